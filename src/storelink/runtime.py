"""The one place that wires the parts together for the server, the pages and the CLI, for one
store or many.

``async with open_runtime(settings) as rt:`` decides each connector's mode once, builds its
transport (the real network, a fake on loopback, or the fake in-process), opens the embedded
store, and closes everything on the way out.

``async with open_fleet(settings) as fleet:`` reads the stores (:func:`configured_stores`: the
stores file, the demo stores, or the one store the environment describes), opens what they share
(:class:`Platform`) and nothing else: a store's connectors and fakes are built the first time
someone asks for that store (``await fleet.runtime("north")``), so a hundred configured stores
start in the time one does and cost little until used.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import httpx2

from storelink.audit import AuditTrail
from storelink.auth.tokens import TokenStore
from storelink.clock import Clock, LoopClock
from storelink.connectors.base import Connector, ConnectorContext
from storelink.connectors.progress import progress_listener
from storelink.connectors.registry import Registry, builtin_connectors
from storelink.database.audit import postgres_trail
from storelink.database.keyring import Keyring
from storelink.database.postgres import Database, open_database
from storelink.database.tokens import SealedTokenCache, TokenVault
from storelink.errors import ConnectorError, ErrorKind, Mode, clip
from storelink.fakes.base import FakeUpstream, InProcessTransport
from storelink.fakes.data import DEFAULT_SHOP_NAME, demo_wall
from storelink.fakes.faults import parse_fault_spec
from storelink.mock_mode import build_fake, demo_credentials
from storelink.observability.errors_log import ErrorLog
from storelink.observability.logs import install_redaction
from storelink.observability.metrics import Metrics
from storelink.resilience.cache import ResponseCache
from storelink.resilience.shared import SharedState, shared_state
from storelink.settings import ConnectorKnobs, Settings
from storelink.store import EmbeddedStore
from storelink.store_calendar import Wall, WallClock
from storelink.stores import ConnectorSettings, StoreConfig, environment_store
from storelink.stores_file import configured_stores
from storelink.tasks import in_background
from storelink.warm_up import WarmUp, save_warm_up

if TYPE_CHECKING:
    from storelink.rag.knowledge import SiteKnowledge

__all__ = [
    "Fleet",
    "OneStore",
    "Platform",
    "Runtime",
    "StoreDirectory",
    "build_runtime",
    "decide_mode",
    "open_fleet",
    "open_platform",
    "open_runtime",
]

log = logging.getLogger("storelink")

# Set inside the warm-up task: the warm-up itself must not be told that the warm-up is running.
_in_warm_up: ContextVar[bool] = ContextVar("storelink_in_warm_up", default=False)


class SharedKnowledge:
    """The site knowledge base (its pages, index and embedding model), opened on first use and
    shared by every store's runtime: a deployment has one website (``STORELINK_SITE_URL``) for now.
    Each store reads it through its own view, whose router answers data questions from that
    store's connectors (:meth:`SiteKnowledge.with_registry`)."""

    def __init__(self, settings: Settings, *, store: EmbeddedStore, metrics: Metrics, cache: ResponseCache) -> None:
        self._parts = (settings, store, metrics, cache)
        self._base: SiteKnowledge | None = None
        self._lock = asyncio.Lock()
        self.warm_up = WarmUp(state="waiting" if settings.site.warm_up else "off")

    def busy(self) -> str | None:
        """While the warm-up runs, what a search answers at once instead of waiting for it."""
        if self.warm_up.warming and not _in_warm_up.get():
            return self.warm_up.still_warming()
        return None

    async def base(self) -> SiteKnowledge:
        if self._base is None:
            if (note := self.busy()) is not None:  # the warm-up is loading the model: don't queue behind it
                raise ConnectorError(
                    ErrorKind.UNAVAILABLE, note, connector="site", operation="search", retryable=True, retry_after_s=5.0
                )
            async with self._lock:
                if self._base is None:
                    from storelink.rag.knowledge import SiteKnowledge

                    settings, store, metrics, cache = self._parts
                    base = await SiteKnowledge.open(settings, store=store, metrics=metrics, cache=cache)
                    base.busy = self.busy  # every store's view shares it (with_registry copies it)
                    self._base = base
        return self._base

    async def aclose(self) -> None:
        if self._base is not None:
            await self._base.aclose()
            self._base = None


@dataclass
class Runtime:
    settings: Settings
    store: EmbeddedStore
    metrics: Metrics
    clock: Clock
    registry: Registry
    cache: ResponseCache
    config: StoreConfig  # the store this runtime serves
    site: SharedKnowledge  # the deployment's site knowledge, which this store reads through its view
    fakes: dict[str, FakeUpstream] = field(default_factory=dict)
    errors: ErrorLog | None = None
    shared: SharedState | None = None
    database: Database | None = None  # PostgreSQL (STORELINK_DATABASE_URL), shared by the stores
    _knowledge: SiteKnowledge | None = None
    _knowledge_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def knowledge(self) -> SiteKnowledge:
        """The site knowledge base, opened on first use (it loads an embedding model), as this
        store sees it: data questions are answered from this store's connectors."""
        if self._knowledge is None:
            async with self._knowledge_lock:
                if self._knowledge is None:
                    self._knowledge = (await self.site.base()).with_registry(self.registry)
        return self._knowledge

    @asynccontextmanager
    async def warming_up(self) -> AsyncIterator[None]:
        """While the block runs, open site knowledge in the background and, in mock mode, ingest the
        demo site (``STORELINK_SITE_WARM_UP``), so an agent's first search does not wait ~40 s for
        it (longer than many MCP clients wait for a tool). Its progress is ``self.site.warm_up``
        (kept in the embedded store for ``storelink health``); a search meanwhile answers at once
        that it is warming up. A failure is logged and left for the first search to try again."""
        if not self.settings.site.warm_up:
            yield
            return
        status = self.site.warm_up

        async def progress(done: float, total: float | None, step: str) -> None:
            status.progress(done, total, step)
            save_warm_up(self.store, status)

        async def warm() -> None:
            _in_warm_up.set(True)
            progress_listener.set(progress)
            status.begin()
            save_warm_up(self.store, status)
            log.info("site knowledge: warming up")
            try:
                kb = await self.knowledge()
                await kb.ensure_ready()
                status.finish(pages=kb.docs.page_count(), chunks=kb.docs.chunk_count())
                log.info("site knowledge %s", status.summary())
            except asyncio.CancelledError:
                status.fail("stopped before it finished")
                save_warm_up(self.store, status)
                raise
            except Exception as exc:  # noqa: BLE001  (a background task: nothing else would see it)
                status.fail(clip(f"{type(exc).__name__}: {exc}", 300))
                log.warning(
                    "site knowledge warm-up failed (%s: %s); the first search will try again", type(exc).__name__, exc
                )
            save_warm_up(self.store, status)

        async with in_background(warm(), name="storelink-site-warm-up"):
            yield

    async def aclose(self) -> None:
        # The knowledge base is the platform's, closed with it.
        for connector in self.registry:
            await connector.aclose()


def decide_mode(cls: type[Connector], config: ConnectorSettings, *, force_mocks: bool) -> tuple[Mode, list[str]]:
    """``disabled`` by flag; ``mock`` when forced or when live credentials are missing; else ``live``."""
    missing = cls.missing_settings(config)
    if not config.knobs.enabled:
        return "disabled", missing
    if force_mocks or missing:
        return "mock", missing
    return "live", missing


class _Nowhere(httpx2.AsyncBaseTransport):
    """The wire of a disabled connector: nothing is ever sent on it."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("this connector is disabled; nothing is sent", request=request)


_NOWHERE = _Nowhere()


def _pooled_transport(knobs: ConnectorKnobs) -> httpx2.AsyncBaseTransport:
    limits = httpx2.Limits(max_connections=knobs.pool_size, max_keepalive_connections=knobs.pool_size)
    return httpx2.AsyncHTTPTransport(limits=limits, retries=0)


@dataclass
class Platform:
    """What every store's runtime shares: the embedded store, one metrics registry, the clocks,
    the state shared across replicas (Redis) and the response cache (partitioned by store)."""

    settings: Settings
    store: EmbeddedStore
    metrics: Metrics
    clock: Clock
    cache: ResponseCache
    shared: SharedState | None
    real_wall: Wall
    mock_wall: Wall
    knowledge: SharedKnowledge
    random: Callable[[], float] = random.random
    # With STORELINK_DATABASE_URL: PostgreSQL, and the write audit log kept there for every replica;
    # with STORELINK_SECRET_KEY too, the sealed tokens.
    database: Database | None = None
    audit: AuditTrail | None = None
    vault: TokenVault | None = None


def _token_vault(settings: Settings, database: Database | None) -> TokenVault | None:
    """Where access tokens are kept for every replica: PostgreSQL, sealed with the secret key. With a
    database and no key, tokens stay on each machine (never written to a shared database unsealed)."""
    if database is None:
        return None
    if settings.secret_key is None:
        log.warning(
            "OAuth access tokens stay in each replica's embedded store: set STORELINK_SECRET_KEY (the same on "
            "every replica; `storelink db new-key` makes one) to keep them sealed in PostgreSQL."
        )
        return None
    return TokenVault(database, Keyring(settings.secret_key))


def _sealed_tokens(vault: TokenVault | None, store_id: str) -> Callable[[str], TokenStore] | None:
    if vault is None:
        return None

    def tokens(provider: str) -> TokenStore:
        return SealedTokenCache(vault, store=store_id, provider=provider)

    return tokens


@asynccontextmanager
async def open_platform(
    settings: Settings,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    store: EmbeddedStore | None = None,
    random_source: Callable[[], float] = random.random,
    wall: Wall | None = None,
    secrets: Sequence[str] = (),
) -> AsyncIterator[Platform]:
    """Open what the stores share; ``secrets`` (the stores' own) join the log redaction."""
    install_redaction(settings, secrets)
    store = store or EmbeddedStore.in_data_dir(settings.data_dir)
    metrics = metrics or Metrics()
    clock = clock or LoopClock()
    real_wall = wall or WallClock(clock)
    mock_wall = wall or (demo_wall(settings.demo_today, clock) if settings.demo_today else real_wall)
    try:
        async with AsyncExitStack() as exit_stack:
            # With STORELINK_REDIS_URL, limits and the cache are shared across replicas (None otherwise).
            shared = await exit_stack.enter_async_context(shared_state(settings, metrics=metrics, clock=clock))
            cache = shared.response_cache(store) if shared is not None else ResponseCache(store)
            knowledge = SharedKnowledge(settings, store=store, metrics=metrics, cache=cache)
            database = await exit_stack.enter_async_context(open_database(settings, metrics=metrics))
            audit = postgres_trail(database, wall=real_wall) if database is not None else None
            vault = _token_vault(settings, database)
            try:
                yield Platform(
                    settings,
                    store,
                    metrics,
                    clock,
                    cache,
                    shared,
                    real_wall,
                    mock_wall,
                    knowledge,
                    random_source,
                    database,
                    audit,
                    vault,
                )
            finally:
                await knowledge.aclose()
                cache.flush()  # before Redis closes: the flush may write to it
    finally:
        store.close()


def build_runtime(
    platform: Platform,
    store_config: StoreConfig,
    *,
    connectors: Sequence[type[Connector]] | None = None,
    transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
) -> Runtime:
    """One store's runtime: its connectors (each from its own settings), their fakes in mock mode,
    its metrics view and its error log. ``Runtime.aclose`` closes what this built."""
    settings = platform.settings
    metrics = platform.metrics.for_store(store_config.id)  # every series carries the store
    errors = ErrorLog(secrets=[*settings.secret_values(), *store_config.secret_values()])
    fault_plans = parse_fault_spec(settings.fake_faults)
    fakes: dict[str, FakeUpstream] = {}
    built: list[Connector] = []
    for cls in connectors if connectors is not None else builtin_connectors():
        config = store_config.connector(cls.name)
        mode, missing = decide_mode(cls, config, force_mocks=settings.mcp_force_mocks)
        knobs = config.knobs
        override = (transports or {}).get(cls.name)
        connector_wall = platform.mock_wall if mode == "mock" else platform.real_wall
        if override is not None:
            real_host = cls.live_base_url(config) if mode == "live" else cls.fake_base_url(config)
            inner, base_url = override, knobs.base_url or real_host
        elif mode == "disabled":
            # It never sends (every call is refused before the wire): no fake, no pool.
            inner, base_url = _NOWHERE, cls.fake_base_url(config)
        elif mode == "live" or knobs.base_url:
            inner = _pooled_transport(knobs)
            base_url = knobs.base_url or cls.live_base_url(config)
        else:
            fake = build_fake(
                cls.name,
                config,
                demo_today=settings.demo_today,
                wall=connector_wall,
                demo_index=store_config.demo_index,
                shop_name=store_config.name if store_config.demo_index else DEFAULT_SHOP_NAME,
            )
            if cls.name in fault_plans:
                fake.faults = fault_plans[cls.name]
            fakes[cls.name] = fake
            inner, base_url = InProcessTransport(fake.app), cls.fake_base_url(config)
        ctx = ConnectorContext(
            config=config,
            mode=mode,
            inner=inner,
            base_url=base_url,
            clock=platform.clock,
            metrics=metrics,
            cache=platform.cache,
            store=platform.store,
            audit=platform.audit,
            tokens=_sealed_tokens(platform.vault, store_config.id),
            errors=errors,
            shared=platform.shared,
            random=platform.random,
            missing=missing,
            wall=connector_wall,
            demo=demo_credentials(cls.name),
        )
        built.append(cls(ctx))
        log.debug("store %s, connector %s: mode %s", store_config.id, cls.name, mode)
    return Runtime(
        settings,
        platform.store,
        metrics,
        platform.clock,
        Registry(built),
        platform.cache,
        store_config,
        platform.knowledge,
        fakes,
        errors,
        platform.shared,
        platform.database,
    )


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    store_config: StoreConfig | None = None,
    connectors: Sequence[type[Connector]] | None = None,
    transports: Mapping[str, httpx2.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    store: EmbeddedStore | None = None,
    random_source: Callable[[], float] = random.random,
    wall: Wall | None = None,
) -> AsyncIterator[Runtime]:
    """Open everything for one store (``store_config``; the one the environment describes when None).
    ``transports`` replaces a connector's wire (tests point live mode at a fake); ``wall`` pins the
    wall clock every connector and fake reads (tests of dates and time zones)."""
    store_config = store_config or environment_store(settings)
    async with open_platform(
        settings,
        clock=clock,
        metrics=metrics,
        store=store,
        random_source=random_source,
        wall=wall,
        secrets=store_config.secret_values(),
    ) as platform:
        runtime = build_runtime(platform, store_config, connectors=connectors, transports=transports)
        try:
            yield runtime
        finally:
            await runtime.aclose()


# -- many stores -------------------------------------------------------------------------------


class StoreDirectory(Protocol):
    """How the pages, the MCP server and the CLI reach stores: by id, runtimes opened on demand."""

    def ids(self) -> list[str]: ...

    def stores(self) -> list[StoreConfig]: ...

    def config(self, store_id: str) -> StoreConfig: ...

    def opened(self) -> list[str]: ...

    async def runtime(self, store_id: str) -> Runtime: ...

    @property
    def database(self) -> Database | None:
        """PostgreSQL when the deployment has one (what the stores share)."""
        ...


class OneStore:
    """A directory of one runtime that is already open (``open_runtime``'s, in tests and tools)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def database(self) -> Database | None:
        return self._runtime.database

    def ids(self) -> list[str]:
        return [self._runtime.config.id]

    def stores(self) -> list[StoreConfig]:
        return [self._runtime.config]

    def config(self, store_id: str) -> StoreConfig:
        if store_id != self._runtime.config.id:
            raise _no_store(store_id, self.ids())
        return self._runtime.config

    def opened(self) -> list[str]:
        return self.ids()

    async def runtime(self, store_id: str) -> Runtime:
        self.config(store_id)
        return self._runtime


def _no_store(store_id: str, ids: Sequence[str]) -> ConnectorError:
    known = ", ".join(ids) if len(ids) <= 20 else f"{len(ids)} stores"
    return ConnectorError(
        ErrorKind.INVALID_REQUEST,
        f"There is no store {clip(store_id)!r}. Stores: {known} (`storelink stores list` lists them).",
    )


class Fleet:
    """The stores, by id, in the order they were configured; their runtimes, opened lazily.
    A :class:`StoreDirectory`."""

    def __init__(
        self,
        platform: Platform,
        stores: Sequence[StoreConfig],
        *,
        connectors: Sequence[type[Connector]] | None = None,
        transports: Mapping[str, Mapping[str, httpx2.AsyncBaseTransport]] | None = None,
    ) -> None:
        self.platform = platform
        self._configs = {store.id: store for store in stores}
        self._connectors = connectors
        self._transports = transports or {}
        self._runtimes: dict[str, Runtime] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    @property
    def database(self) -> Database | None:
        return self.platform.database

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    def ids(self) -> list[str]:
        return list(self._configs)

    def stores(self) -> list[StoreConfig]:
        return list(self._configs.values())

    def config(self, store_id: str) -> StoreConfig:
        """The store named ``store_id``; an unknown id is the caller's mistake, said plainly."""
        found = self._configs.get(store_id)
        if found is None:
            raise _no_store(store_id, list(self._configs))
        return found

    def opened(self) -> list[str]:
        """The stores whose runtime has been built (in order of first use)."""
        return list(self._runtimes)

    async def runtime(self, store_id: str) -> Runtime:
        """``store_id``'s runtime, built on first use (once, however many callers ask at once)."""
        found = self._runtimes.get(store_id)
        if found is not None:
            return found
        config = self.config(store_id)
        lock = self._opening.setdefault(store_id, asyncio.Lock())
        async with lock:
            found = self._runtimes.get(store_id)
            if found is None:
                found = build_runtime(
                    self.platform,
                    config,
                    connectors=self._connectors,
                    transports=self._transports.get(store_id),
                )
                self._runtimes[store_id] = found
        return found

    async def put(self, config: StoreConfig) -> None:
        """Add a store, or replace a store's config (a shop installs or uninstalls storelink as a
        Shopify app): a replaced store's runtime is closed and built from the new config on next use."""
        lock = self._opening.setdefault(config.id, asyncio.Lock())
        async with lock:
            self._configs[config.id] = config
            replaced = self._runtimes.pop(config.id, None)
        if replaced is not None:
            await replaced.aclose()

    async def aclose(self) -> None:
        runtimes, self._runtimes = self._runtimes, {}
        for runtime in runtimes.values():
            await runtime.aclose()


@asynccontextmanager
async def open_fleet(
    settings: Settings,
    *,
    stores: Sequence[StoreConfig] | None = None,
    connectors: Sequence[type[Connector]] | None = None,
    transports: Mapping[str, Mapping[str, httpx2.AsyncBaseTransport]] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    store: EmbeddedStore | None = None,
    random_source: Callable[[], float] = random.random,
    wall: Wall | None = None,
) -> AsyncIterator[Fleet]:
    """Open the shared parts for ``stores`` (the configured ones when None). ``transports`` maps a
    store id to the wires that replace its connectors' (tests)."""
    stores = list(stores) if stores is not None else configured_stores(settings)
    secrets = [secret for config in stores for secret in config.secret_values()]
    async with open_platform(
        settings, clock=clock, metrics=metrics, store=store, random_source=random_source, wall=wall, secrets=secrets
    ) as platform:
        fleet = Fleet(platform, stores, connectors=connectors, transports=transports)
        try:
            yield fleet
        finally:
            await fleet.aclose()
