"""What a connector declares, and the machinery every connector shares.

A connector is a class that describes its upstream and its operations::

    class ShopifyConnector(Connector):
        name = "shopify"
        title = "Shopify"
        credential_hint = "SHOPIFY_ACCESS_TOKEN"
        probe = ("shop_info", {})

        @operation()
        async def shop_info(self, params: NoParams) -> Shop:
            \"\"\"The shop's name, domain, plan and currency.\"\"\"
            ...

The base class has its knobs built into a pipeline (:func:`storelink.resilience.policy.build_pipeline`:
breaker, limiter, budget, cache) with the parts it declares (classifier, limiter, auth), validates
parameters, runs the operation under a call trace and wraps the result in an ``Envelope``. The
MCP server, the pages and the CLI read the same declarations from the registry.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, get_type_hints

import httpx2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storelink.audit import AuditTrail
from storelink.auth.tokens import TokenStore
from storelink.clock import Clock
from storelink.connectors.http import Upstream, bypass_cache, call_trace
from storelink.errors import ConnectorError, Envelope, ErrorKind, Meta, Mode, Source, clip, describe_validation_error
from storelink.observability.errors_log import ErrorLog
from storelink.observability.metrics import Metrics
from storelink.resilience.breaker import BreakerState
from storelink.resilience.cache import ResponseCache
from storelink.resilience.classify import Classifier, HttpClassifier
from storelink.resilience.deadline import Deadline, operation_deadline
from storelink.resilience.limiter import RateLimiter
from storelink.resilience.pipeline import Authenticator, CallReport
from storelink.resilience.policy import RetryRefill, build_pipeline, client_timeout, knob_limiter
from storelink.store_calendar import Wall, WallClock
from storelink.stores import ConnectorSettings, DemoCredentials, settings_as

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState
from storelink.store import EmbeddedStore

__all__ = [
    "Connector",
    "ConnectorContext",
    "DemoCredentials",
    "Health",
    "NoParams",
    "OperationSpec",
    "operation",
    "settings_as",
]

C = TypeVar("C", bound="Connector")
# How long work outside the pipeline may run past an operation's deadline before it is cancelled.
DEADLINE_GRACE_S = 1.0
HealthStatus = Literal["ok", "degraded", "down", "disabled"]


class NoParams(BaseModel):
    """An operation that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    summary: str
    description: str
    params: type[BaseModel]
    result: Any
    write: bool
    handler: Callable[[Any, Any], Awaitable[Any]]
    example: dict[str, Any] | None = None


def operation(
    *, write: bool = False, example: dict[str, Any] | None = None
) -> Callable[[Callable[[C, Any], Awaitable[Any]]], Callable[[C, Any], Awaitable[Any]]]:
    """Declare a connector method as an operation. Its signature is the contract:
    ``async def name(self, params: ParamsModel) -> ResultType``, its docstring the description
    agents and ``storelink call`` show, and ``example`` a valid set of parameters (shown to agents,
    and called by the tests against the fake)."""

    def decorate(fn: Callable[[C, Any], Awaitable[Any]]) -> Callable[[C, Any], Awaitable[Any]]:
        hints = get_type_hints(fn)
        params = hints.get("params")
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise TypeError(f"operation {fn.__name__} must take `params: <a pydantic model>`")
        doc = (fn.__doc__ or "").strip()
        fn.__storelink_operation__ = OperationSpec(  # type: ignore[attr-defined]
            name=fn.__name__,
            summary=" ".join(doc.split("\n\n")[0].split()) if doc else fn.__name__,
            description=doc,
            params=params,
            result=hints.get("return", Any),
            write=write,
            handler=fn,
            example=example,
        )
        return fn

    return decorate


class Health(BaseModel):
    connector: str
    title: str
    mode: Mode
    status: HealthStatus
    breaker: BreakerState
    message: str
    latency_ms: float | None = None
    missing: list[str] = Field(default_factory=list)
    error_kind: ErrorKind | None = None


@dataclass(slots=True)
class ConnectorContext:
    """What the runtime hands a connector: its own settings (one store's, for this connector), where
    to send requests, and the shared parts."""

    config: ConnectorSettings
    mode: Mode
    inner: httpx2.AsyncBaseTransport
    base_url: str
    clock: Clock
    metrics: Metrics
    cache: ResponseCache | None = None
    store: EmbeddedStore | None = None
    # The write audit log in PostgreSQL when the deployment has one; writes use the store's otherwise.
    audit: AuditTrail | None = None
    # Where this store's access tokens are kept, by provider (``google``, ``zoho``): the replicas'
    # sealed table in PostgreSQL when the deployment has one and a key; the embedded store otherwise.
    tokens: Callable[[str], TokenStore] | None = None
    errors: ErrorLog | None = None
    shared: SharedState | None = None
    random: Callable[[], float] = random.random
    missing: list[str] = field(default_factory=list)
    # The one wall clock (epoch seconds) every date, expiry and quota day is read from; in mock mode
    # the connector's fake reads the same one. None: real time, moving with ``clock``.
    wall: Wall | None = None
    # The local fakes' public demo credentials: what mock mode (or a missing credential) signs with.
    demo: DemoCredentials = field(default_factory=DemoCredentials)


class Connector:
    """Base of every connector. Subclasses set the class attributes and declare operations."""

    name: ClassVar[str]
    title: ClassVar[str]
    credential_hint: ClassVar[str] = ""
    probe: ClassVar[tuple[str, dict[str, Any]] | None] = None
    # How the retry budget refills (storelink.resilience.policy.RetryRefill).
    retry_refill: ClassVar[RetryRefill] = "per_call"
    # The settings it is built from (a subclass narrows ``config`` to the same type).
    settings_type: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    config: ConnectorSettings
    operations: ClassVar[dict[str, OperationSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(getattr(cls, "operations", {}))
        for value in vars(cls).values():
            spec = getattr(value, "__storelink_operation__", None)
            if isinstance(spec, OperationSpec):
                found[spec.name] = spec
        cls.operations = found

    # -- what a connector declares about its upstream (override) --------------------------------
    @classmethod
    def missing_settings(cls, config: ConnectorSettings) -> list[str]:
        """The settings live mode needs that ``config`` lacks (named as the environment names them)."""
        return []

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        raise NotImplementedError

    @classmethod
    def fake_base_url(cls, config: ConnectorSettings) -> str:
        """The URL the connector uses for its in-process fake (a real-looking host)."""
        return cls.live_base_url(config)

    def make_classifier(self) -> Classifier:
        return HttpClassifier(title=self.title, connector=self.name, credential_hint=self.credential_hint)

    def make_limiter(self) -> RateLimiter:
        return knob_limiter(self.knobs, clock=self.clock)

    def make_auth(self) -> Authenticator | None:
        return None

    def credential_partition(self) -> str:
        """A fingerprint of the credential identity; cache entries never cross it."""
        return ""

    def default_headers(self) -> dict[str, str]:
        return {}

    # -- shared machinery --------------------------------------------------------------------
    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.config = settings_as(ctx.config, self.settings_type)
        self.mode: Mode = ctx.mode
        self.knobs = ctx.config.knobs
        self.clock = ctx.clock
        self.wall: Wall = ctx.wall or WallClock(ctx.clock)
        self.metrics = ctx.metrics
        ctx.metrics.set_breaker_state(self.name, BreakerState.CLOSED.value, 0)
        limiter = self.make_limiter()
        auth = self.make_auth()  # before the partition, which may depend on the credentials
        transport = build_pipeline(
            ctx.inner,
            connector=self.name,
            knobs=self.knobs,
            classifier=self.make_classifier(),
            clock=ctx.clock,
            metrics=ctx.metrics,
            limiter=limiter,
            shared=ctx.shared,  # replicas share the upstream's budget through Redis
            breaker_name=self.title,
            on_breaker_transition=self._on_breaker_transition,
            retry_refill=self.retry_refill,
            cache=ctx.cache,
            # Cache entries and shared (Redis) budgets never cross a store, nor a credential in it.
            partition=f"{self.config.store}|{self.credential_partition()}",
            auth=auth,
            random=ctx.random,
        )
        self.policy = transport.policy
        self.breaker = transport.breaker
        self.limiter = transport.limiter
        self.budget = transport.budget
        client = httpx2.AsyncClient(
            base_url=ctx.base_url,
            transport=transport,
            timeout=client_timeout(self.knobs),
            headers={"User-Agent": "storelink", **self.default_headers()},
        )
        self.http = Upstream(client)

    def _on_breaker_transition(self, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker_transition(self.name, old.value, new.value, new.gauge)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, operation: str, params: Mapping[str, Any] | BaseModel | None = None) -> Envelope[Any]:
        """Validate, run one operation through the pipeline, and wrap the result."""
        spec = self.operations.get(operation)
        if spec is None:
            known = ", ".join(sorted(self.operations))
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"{self.title} has no operation {clip(operation)!r}. Operations: {known}.",
                connector=self.name,
                operation=operation,
            )
        if self.mode == "disabled":
            raise ConnectorError(
                ErrorKind.DISABLED,
                f"{self.title} is turned off for this store. To use it, set STORELINK_{self.name.upper()}_ENABLED=true "
                f"(or, with a stores file, give the store a [stores.{self.name}] table).",
                connector=self.name,
                operation=operation,
            )
        validated = self.validate_params(spec, params)
        trace: list[CallReport] = []
        token = call_trace.set(trace)
        started = self.clock.now()
        try:
            data = await self._run_within_deadline(spec, validated)
        except ConnectorError as err:
            err = err.with_context(connector=self.name, operation=operation)
            if self.ctx.errors is not None:
                self.ctx.errors.record(err)  # recent errors, redacted, for the pages
            raise err from None
        finally:
            call_trace.reset(token)
        return Envelope[Any](data=data, meta=self._meta(operation, trace, self.clock.now() - started))

    async def _run_within_deadline(self, spec: OperationSpec, validated: BaseModel) -> Any:
        """Run the handler under one deadline for all its requests (``STORELINK_<C>_DEADLINE``).

        Every request inside draws on what is left of it, so a paginated operation ends by its
        deadline however many pages it wanted; a handler that reads pages may stop there and return
        what it has, marked truncated. Work outside the pipeline (sleeps, parsing) is cut off
        :data:`DEADLINE_GRACE_S` after the deadline as a backstop."""
        deadline = Deadline.after(self.clock, self.knobs.deadline)
        with operation_deadline(deadline) as bound:
            try:
                async with asyncio.timeout(bound.remaining() + DEADLINE_GRACE_S) as scope:
                    return await spec.handler(self, validated)
            except TimeoutError:
                if not scope.expired():
                    raise
                raise ConnectorError(
                    ErrorKind.TIMEOUT,
                    f"{self.title} {spec.name} did not finish within its {self.knobs.deadline:g} s deadline. Ask "
                    f"for less (a smaller limit, a shorter date range, fewer dimensions) or raise "
                    f"STORELINK_{self.name.upper()}_DEADLINE.",
                    retryable=False,
                ) from None

    def validate_params(self, spec: OperationSpec, params: Mapping[str, Any] | BaseModel | None) -> BaseModel:
        if isinstance(params, spec.params):
            return params
        raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
        try:
            return spec.params.model_validate(raw)
        except ValidationError as exc:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"Invalid parameters for {self.name}.{spec.name}: "
                f"{describe_validation_error(exc, allowed=spec.params.model_fields)}",
                connector=self.name,
                operation=spec.name,
            ) from None

    def _meta(self, operation: str, trace: list[CallReport], elapsed_s: float) -> Meta:
        sources = {r.source for r in trace}
        source: Source = "network"
        if sources and "network" not in sources:
            source = "cache-revalidated" if "cache-revalidated" in sources else "cache-fresh"
        last = trace[-1] if trace else None
        return Meta(
            connector=self.name,
            operation=operation,
            mode=self.mode,
            source=source,
            attempts=sum(r.attempts for r in trace),
            latency_ms=round(elapsed_s * 1000.0, 3),
            request_id=last.request_id if last else None,
            headroom=next((r.headroom for r in reversed(trace) if r.headroom), None),
        )

    async def health(self) -> Health:
        """Run the cheap probe operation and say what state the connector is in."""
        base = {
            "connector": self.name,
            "title": self.title,
            "mode": self.mode,
            "missing": self.ctx.missing,
        }
        if self.mode == "disabled":
            return Health(**base, status="disabled", breaker=self.breaker.state, message="Turned off by its flag.")
        if self.probe is None:
            return Health(**base, status="ok", breaker=self.breaker.state, message="No probe declared.")
        operation, params = self.probe
        started = self.clock.now()
        token = bypass_cache.set(True)
        try:
            envelope = await self.call(operation, params)
        except ConnectorError as err:
            status: HealthStatus = "degraded" if err.kind is ErrorKind.RATE_LIMITED else "down"
            return Health(**base, status=status, breaker=self.breaker.state, message=err.message, error_kind=err.kind)
        finally:
            bypass_cache.reset(token)
        latency_ms = round((self.clock.now() - started) * 1000.0, 1)
        degraded = self.breaker.state is not BreakerState.CLOSED or envelope.meta.attempts > 1
        note = "" if self.mode == "live" else " (mock: the local fake answered)"
        return Health(
            **base,
            status="degraded" if degraded else "ok",
            breaker=self.breaker.state,
            message=f"{operation} answered in {latency_ms:.0f} ms{note}.",
            latency_ms=latency_ms,
        )
