"""Writes: off unless allowed, keyed once, audited before and after, never sent twice.

How one write operation runs (:meth:`WriteGuard.run`)::

    allowed?   STORELINK_ALLOW_WRITES names `connector.operation`, `connector.*` or `*`
               └─ no ─► ConnectorError(disabled); recorded as a failed call, nothing sent
    key        the caller's `idempotency_key`, or a new one: made once per logical call, so
               every attempt the pipeline makes for it carries the same key; stored under the
               caller's identity (:func:`calling_as`), so one caller cannot claim another's key
    claim      audit.write_calls row; a key already there is a replay:
                 ok       ─► the recorded result (replayed=True); nothing sent
                 unknown  ─► reconciled when the operation can look (``reconcile``: Zoho reads
                              its Sent folder): found, it is recorded ok and its result returned;
                              else an error saying so; nothing sent (it may have been applied)
                 failed   ─► the upstream certainly did nothing: run again under the same key
                 running  ─► an error (the first call has not finished)
    send       the operation's own code, under a write context: every request marked
               ``write=True`` that reaches the wire is an attempt row, written ``unknown`` before
               it is sent and settled after it (:class:`AuditedTransport`)
    finish     ok, or failed / unknown from the attempts: unknown as soon as one of them may
               have been applied

Retries: the pipeline retries a write only when the upstream certainly did not act (429,
connection refused) or when the operation declares that the upstream honours the idempotency key
(``idempotent=True`` on the request). Neither Bing nor Zoho documents such a key, so their writes
are never retried after a timeout or a 5xx; the caller hears ``unknown`` and what to check.

A write request that reaches the wire outside :meth:`WriteGuard.run` is a programming error and
is refused there, so no write can bypass the allow-list or the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import httpx2
from pydantic import BaseModel, Field

from storelink.audit import AuditCall, AuditTrail, Outcome, embedded_trail
from storelink.errors import ConnectorError, ErrorKind, Mode
from storelink.resilience.classify import Classifier, Verdict
from storelink.resilience.pipeline import OPTIONS_KEY, CallOptions
from storelink.store import EmbeddedStore
from storelink.stores import DEFAULT_STORE

__all__ = [
    "ALLOW_WRITES_ENV",
    "LOCAL_CALLER",
    "AuditedTransport",
    "IdempotencyKey",
    "WriteGuard",
    "WriteReceipt",
    "allowed_writes",
    "attempt_outcome",
    "calling_as",
    "is_write_allowed",
    "new_idempotency_key",
    "params_digest",
    "require_write_allowed",
    "scoped_key",
]

log = logging.getLogger("storelink.writes")

ALLOW_WRITES_ENV = "STORELINK_ALLOW_WRITES"
# A call still "in flight" this long after its deadline belongs to a process that died mid-call.
STALE_MARGIN_S = 60.0

R = TypeVar("R", bound="WriteReceipt")

IdempotencyKey = Annotated[
    str | None,
    Field(
        None,
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Makes retries safe: a second call with the same key returns the first call's recorded "
        "outcome instead of writing again. Default: a new key per call.",
    ),
]


class WriteReceipt(BaseModel):
    """The part every write result shares: the key it ran under and whether this is a replay."""

    idempotency_key: str = Field("", description="Pass it again to get this outcome back without writing twice.")
    replayed: bool = Field(False, description="True when this result was recorded earlier and nothing was sent now.")


# -- the allow-list ------------------------------------------------------------------------------
def allowed_writes(spec: str) -> frozenset[str]:
    """``"bing.submit_urls, zoho.*"`` -> the set of entries (lower-case, blanks dropped)."""
    return frozenset(entry.strip().lower() for entry in spec.split(",") if entry.strip())


def is_write_allowed(spec: str, connector: str, operation: str) -> bool:
    entries = allowed_writes(spec)
    return bool(entries & {"*", f"{connector}.*", f"{connector}.{operation}".lower()})


def require_write_allowed(allow_writes: str, *, connector: str, operation: str, title: str) -> None:
    """Refuse a write that ``allow_writes`` (the operator's rule) does not name."""
    if is_write_allowed(allow_writes, connector, operation):
        return
    name = f"{connector}.{operation}"
    raise ConnectorError(
        ErrorKind.DISABLED,
        f"Writes are off: {name} is not allowed, so nothing was sent to {title}. To allow it, add `{name}` "
        f"to {ALLOW_WRITES_ENV} (comma-separated; `*` allows every write); every attempt is then recorded "
        "in the audit log (`storelink audit`).",
        connector=connector,
        operation=operation,
        retryable=False,
    )


# -- keys -----------------------------------------------------------------------------------------
def new_idempotency_key() -> str:
    return f"sl-{uuid.uuid4().hex}"


def params_digest(params: BaseModel) -> str:
    """What a key is bound to: the parameters, minus the key itself. The digest, not the text, is
    stored, so a mail body never lands in the audit log."""
    data = params.model_dump(mode="json", exclude={"idempotency_key"})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Who is writing. The CLI and MCP over stdio act for the local user; the MCP tools set the
# authenticated principal for the call (mcp_server/tools.py).
LOCAL_CALLER = "local"
_caller: ContextVar[str] = ContextVar("storelink_write_caller", default=LOCAL_CALLER)


@contextmanager
def calling_as(identity: str) -> Iterator[None]:
    """Run the writes inside the block on behalf of ``identity``."""
    token = _caller.set(identity)
    try:
        yield
    finally:
        _caller.reset(token)


def scoped_key(identity: str, key: str) -> str:
    """The key as the audit log stores it: the local user's as given (``storelink audit --key``
    finds it), anyone else's behind a digest of who they are. ``/`` is not a key character, so no
    caller can name a key in another's scope."""
    if identity == LOCAL_CALLER:
        return key
    return f"{hashlib.sha256(identity.encode()).hexdigest()[:16]}/{key}"


# -- attempts at the wire -------------------------------------------------------------------------
def attempt_outcome(verdict: Verdict) -> Outcome:
    """ok, failed (the upstream certainly did nothing) or unknown (it may have acted)."""
    if verdict.ok:
        return "ok"
    if not verdict.maybe_applied:
        return "failed"
    if verdict.kind in (ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE, ErrorKind.UPSTREAM_ERROR):
        return "unknown"
    return "failed"  # a refusal: 400, 401, 403, 404 …


@dataclass(slots=True)
class _WriteContext:
    key: str
    connector: str
    operation: str
    audit: AuditTrail
    outcomes: list[Outcome] = field(default_factory=list)

    def may_have_applied(self) -> bool:
        return any(o in ("ok", "unknown") for o in self.outcomes)


_current_write: ContextVar[_WriteContext | None] = ContextVar("storelink_current_write", default=None)


class AuditedTransport(httpx2.AsyncBaseTransport):
    """Sits under the pipeline, just above the wire: each write request is an audit row before it
    is sent and is settled after, whatever the pipeline then does (retry, give up, raise).

    Reads pass straight through. ``classifier`` is the connector's, so the outcome of an attempt is
    judged exactly as the pipeline judges it."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, *, classifier: Classifier) -> None:
        self.inner = inner
        self.classifier = classifier

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        options = request.extensions.get(OPTIONS_KEY)
        if not (isinstance(options, CallOptions) and options.write):
            return await self.inner.handle_async_request(request)
        ctx = _current_write.get()
        if ctx is None:
            raise RuntimeError(
                f"write request for {options.operation!r} outside WriteGuard.run: refused before sending "
                "(writes must pass the allow-list and the audit log)"
            )
        # Before sending: a database that does not answer here refuses the request (nothing unaudited).
        attempt = await ctx.audit.begin_attempt(key=ctx.key, connector=ctx.connector, operation=ctx.operation)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except (httpx2.HTTPError, TimeoutError, OSError) as exc:
            await self._settle(ctx, attempt, self._classify_exception(exc))
            raise
        except BaseException as exc:
            ctx.outcomes.append("unknown")
            await _settle_row(ctx, attempt, "unknown", detail=f"interrupted while in flight ({type(exc).__name__})")
            raise
        await self._settle(ctx, attempt, self.classifier.classify_response(response), status=response.status_code)
        return response

    def _classify_exception(self, exc: Exception) -> Verdict:
        try:
            return self.classifier.classify_exception(exc)
        except Exception:  # noqa: BLE001  (one the classifier does not know: assume the worst)
            return Verdict(ErrorKind.UNAVAILABLE, f"{type(exc).__name__} while in flight")

    @staticmethod
    async def _settle(ctx: _WriteContext, attempt: int, verdict: Verdict, *, status: int | None = None) -> None:
        outcome = attempt_outcome(verdict)
        ctx.outcomes.append(outcome)
        await _settle_row(
            ctx,
            attempt,
            outcome,
            status=status if status is not None else verdict.status,
            error_kind=verdict.kind.value if verdict.kind else None,
            detail=verdict.message or None,
            request_id=verdict.request_id,
        )


async def _settle_row(ctx: _WriteContext, attempt: int, outcome: Outcome, **fields: Any) -> None:
    """Settle an attempt's row. The request has been sent by now, so a database that stopped
    answering must not turn its answer into an error: the row stays ``unknown`` (true: the log
    cannot say), and the log says why."""
    try:
        await ctx.audit.end_attempt(attempt, outcome, **fields)
    except ConnectorError as err:
        log.error("audit: attempt %d of key %s stays 'unknown': %s", attempt, ctx.key, err.message)


# -- the guard ------------------------------------------------------------------------------------
class WriteGuard:
    """What a connector's write operation runs inside. One per connector."""

    def __init__(
        self,
        *,
        connector: str,
        title: str,
        allow_writes: str,
        mode: Mode,
        store: EmbeddedStore | None,
        deadline_s: float,
        store_id: str = DEFAULT_STORE,
        wall: Callable[[], float] = time.time,
        audit: AuditTrail | None = None,
    ) -> None:
        self.store_id = store_id
        self.connector = connector
        self.title = title
        self.allow_writes = allow_writes
        self.mode = mode
        # PostgreSQL's trail when the deployment has one (shared by replicas), else the embedded store's.
        if audit is None and store is not None:
            audit = embedded_trail(store, wall=wall)
        self.audit = audit
        self.stale_after_s = deadline_s + STALE_MARGIN_S
        self.wall = wall

    def _error(self, kind: ErrorKind, message: str, operation: str, *, retryable: bool = False) -> ConnectorError:
        return ConnectorError(kind, message, connector=self.connector, operation=operation, retryable=retryable)

    async def run(
        self,
        operation: str,
        params: BaseModel,
        *,
        summary: str,
        effect: str,
        result_type: type[R],
        send: Callable[[str], Awaitable[R]],
        reconcile: Callable[[float], Awaitable[R | None]] | None = None,
    ) -> R:
        """Run ``send(key)`` as one audited write. ``summary`` says what is written, for the log
        (no secret, no mail body); ``effect`` completes "<Title> may have …" (e.g. "sent the
        message") in messages about an unknown outcome. ``reconcile(started_at)``, when the
        upstream offers a way to look, finds the result of this same write (same parameters: the
        digest matched) made by a call that started at ``started_at`` (wall seconds), or None."""
        audit = self.audit
        if audit is None:
            raise self._error(
                ErrorKind.NOT_CONFIGURED,
                "Writes need the embedded store for their audit log, and this runtime has none; nothing was sent.",
                operation,
            )
        key: str = getattr(params, "idempotency_key", None) or new_idempotency_key()
        stored = scoped_key(_caller.get(), key)
        if self.store_id != DEFAULT_STORE:
            stored = f"{self.store_id}|{stored}"  # `|` is in neither a store id nor a key: no store names another's
        digest = params_digest(params)
        try:
            previous = await audit.claim(
                key=stored,
                connector=self.connector,
                operation=operation,
                mode=self.mode,
                params_digest=digest,
                summary=summary,
                store=self.store_id,
            )
        except ConnectorError as err:
            raise self._error(
                ErrorKind.UNAVAILABLE,
                f"The write was refused and nothing was sent: writes are audited first, and {err.message}",
                operation,
                retryable=True,
            ) from None
        if previous is not None:
            replayed = await self._replay(previous, key, stored, operation, digest, effect, result_type, reconcile)
            if replayed is not None:
                return replayed
            await audit.rerun(stored, mode=self.mode, summary=summary)
        try:
            require_write_allowed(self.allow_writes, connector=self.connector, operation=operation, title=self.title)
        except ConnectorError as err:
            await audit.finish(stored, "failed", error_kind=err.kind.value, error_message=err.message)
            raise
        return await self._send(audit, key, stored, operation, effect, send)

    async def _send(
        self,
        audit: AuditTrail,
        key: str,
        stored: str,
        operation: str,
        effect: str,
        send: Callable[[str], Awaitable[R]],
    ) -> R:
        ctx = _WriteContext(key=stored, connector=self.connector, operation=operation, audit=audit)
        token = _current_write.set(ctx)
        try:
            result = await send(key)
        except ConnectorError as err:
            outcome: Outcome = "unknown" if ctx.may_have_applied() else "failed"
            if outcome == "unknown":
                err.message = (
                    f"{err.message} The outcome is unknown: {self.title} may have {effect}. It was not retried. "
                    f"Check before trying again; calling again with idempotency_key={key} will not do it twice "
                    "(`storelink audit` shows every attempt)."
                )
                err.retryable = False
            await _finish_quietly(audit, stored, outcome, error_kind=err.kind.value, error_message=err.message)
            log.warning(
                "write %s.%s key=%s outcome=%s (%s)", self.connector, operation, stored, outcome, err.kind.value
            )
            raise
        except BaseException as exc:
            outcome = "unknown" if ctx.may_have_applied() else "failed"  # nothing on the wire: failed
            await _finish_quietly(audit, stored, outcome, error_message=f"interrupted: {type(exc).__name__}")
            raise
        finally:
            _current_write.reset(token)
        result = result.model_copy(update={"idempotency_key": key, "replayed": False})
        await _finish_quietly(audit, stored, "ok", result=result.model_dump(mode="json"))
        log.info("write %s.%s key=%s outcome=ok attempts=%d", self.connector, operation, stored, len(ctx.outcomes))
        return result

    async def _replay(
        self,
        previous: AuditCall,
        key: str,
        stored: str,
        operation: str,
        digest: str,
        effect: str,
        result_type: type[R],
        reconcile: Callable[[float], Awaitable[R | None]] | None,
    ) -> R | None:
        """The recorded outcome of ``key`` (``stored`` in the log), or None when the call should run (again)."""
        assert self.audit is not None
        if previous.connector != self.connector or previous.operation != operation or previous.params_digest != digest:
            raise self._error(
                ErrorKind.INVALID_REQUEST,
                f"idempotency_key {key} was first used for a different call ({previous.connector}."
                f"{previous.operation} with other parameters); nothing was sent. Use a new key for a new call.",
                operation,
            )
        when = dt.datetime.fromtimestamp(previous.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if not previous.finished:
            if self.wall() - previous.started_at < self.stale_after_s:
                raise self._error(
                    ErrorKind.INVALID_REQUEST,
                    f"A call with idempotency_key {key} is still in progress (started {when}); nothing was sent. "
                    "Call again with the same key once it has finished to get its outcome.",
                    operation,
                )
            # Its process died mid-call: whatever it sent may have been applied.
            await self.audit.finish(
                stored, "unknown", error_kind=None, error_message="never finished (the process stopped mid-call)"
            )
            found = await self.audit.call(stored)
            assert found is not None
            previous = found
        if previous.outcome == "failed":
            return None
        if previous.outcome == "unknown" and reconcile is not None:
            previous = await self._reconcile(previous, stored, operation, reconcile)
        await self.audit.note_replay(stored)
        if previous.outcome == "ok":
            if previous.result is None:
                raise self._error(
                    ErrorKind.UPSTREAM_ERROR,
                    f"The call with idempotency_key {key} ({when}) was applied, but its result was not recorded; "
                    "nothing was sent again.",
                    operation,
                )
            result = result_type.model_validate(previous.result)
            log.info("write %s.%s key=%s replayed (recorded ok)", self.connector, operation, stored)
            return result.model_copy(update={"idempotency_key": key, "replayed": True})
        known = {k.value for k in ErrorKind}
        kind = ErrorKind(previous.error_kind) if previous.error_kind in known else ErrorKind.UNAVAILABLE
        raise self._error(
            kind,
            f"An earlier call with idempotency_key {key} ({when}) ended with an unknown outcome: {self.title} may "
            f"have {effect}. Nothing was sent this time. Check whether it was applied; to do it anyway, call "
            "again with a new idempotency_key.",
            operation,
        )

    async def _reconcile(
        self, previous: AuditCall, stored: str, operation: str, reconcile: Callable[[float], Awaitable[R | None]]
    ) -> AuditCall:
        """``previous`` (an unknown outcome) settled ok when the upstream shows the write applied;
        unchanged when it does not, or cannot say: absence proves nothing (the upstream may not
        show it yet), so an unknown outcome never becomes "failed" here and is never sent again."""
        assert self.audit is not None
        try:
            found = await reconcile(previous.started_at)
        except ConnectorError as err:
            log.warning("write %s.%s key=%s not reconciled: %s", self.connector, operation, stored, err.message)
            return previous
        if found is None:
            return previous
        when = dt.datetime.fromtimestamp(self.wall(), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        # error_message carries the note: the outcome was unknown and was settled by looking.
        note = f"Reconciled {when}: the outcome was unknown, and {self.connector} shows the write applied."
        result = found.model_dump(mode="json")
        await self.audit.finish(stored, "ok", error_kind=None, error_message=note, result=result)
        log.info("write %s.%s key=%s reconciled: applied", self.connector, operation, stored)
        return previous.model_copy(update={"outcome": "ok", "result": result, "error_message": note})


async def _finish_quietly(audit: AuditTrail, key: str, outcome: Outcome, **fields: Any) -> None:
    """Record a call's outcome once it is known. The upstream has answered (or not) by now; a
    database that stopped answering leaves the call 'in progress', which a later call with the key
    finds stale and marks unknown: never lost, never wrong."""
    try:
        await audit.finish(key, outcome, **fields)
    except ConnectorError as err:
        log.error("audit: call %s stays in progress (outcome %s not recorded): %s", key, outcome, err.message)
