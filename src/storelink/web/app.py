"""The web app: health, metrics and the dashboard's pages, with room for one more endpoint (the
MCP endpoint, which ``storelink.main`` plugs in: the pages do not import the MCP server).

The app serves the stores of a :class:`~storelink.runtime.StoreDirectory` (``open_fleet``: every
configured store, each opened on first use; the first at start). Every page and
``/app/stores/<store>/metrics.json`` is for one store; the single-store URLs of before serve the
first (web/stores.py); ``/metrics`` exports every store (one registry, a ``store`` label).
Liveness (``/healthz``) says the process answers; readiness (``/readyz``) says the stores are
open, the embedded store answers and the site knowledge warm-up is not still running (503
``warming``, with its progress): a replica that would answer every search "still warming up" should
not take traffic from warm ones, and the wait is bounded (one ingest, 20-50 s for the demo site; a
failed warm-up does not hold readiness; ``STORELINK_SITE_WARM_UP=false`` turns it off). Upstream
health never fails readiness: one upstream's outage must not restart every replica
(resilience.md §5.3); it is reported in ``/app/metrics.json`` and ``storelink health`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.observability.metrics import CONTENT_TYPE
from storelink.runtime import OneStore, Runtime, StoreDirectory, open_fleet
from storelink.settings import Settings
from storelink.web.across import across_routes
from storelink.web.dashboard import (
    dashboard_middleware,
    dashboard_routes,
    forbidden,
    no_such_store,
    store_routes,
    store_state,
)
from storelink.web.insights import insights_routes
from storelink.web.state import dashboard_services, directory_of
from storelink.web.stores import STORES_PATH, NoSuchStore, StoreForbidden, store_access

__all__ = ["Endpoint", "EndpointFactory", "Extension", "FleetFactory", "RuntimeFactory", "create_app"]

RuntimeFactory = Callable[[Settings], AbstractAsyncContextManager[Runtime]]
FleetFactory = Callable[[Settings], AbstractAsyncContextManager[StoreDirectory]]


class Endpoint(Protocol):
    """Routes served beside the pages, with a lifespan of their own (the MCP endpoint)."""

    @property
    def routes(self) -> list[BaseRoute]: ...

    def lifespan(self) -> AbstractAsyncContextManager[None]: ...


# Builds the endpoint from how to reach the app's stores (open only once the app has started).
EndpointFactory = Callable[[Callable[[], StoreDirectory]], Endpoint]


class Extension(Protocol):
    """Routes served beside the pages whose parts open with the stores (storelink as a Shopify app:
    ``storelink.shopify_app.routes.ShopifyAppExtension``, plugged in by ``storelink.main``)."""

    @property
    def routes(self) -> list[BaseRoute]: ...

    def lifespan(self, app: Starlette, stores: StoreDirectory) -> AbstractAsyncContextManager[object]: ...


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None or not runtime.store.ping():
        return JSONResponse({"status": "starting"}, 503)
    modes = {c.name: c.mode for c in runtime.registry}
    fleet: StoreDirectory = request.app.state.fleet
    stores = {"configured": len(fleet.ids()), "opened": len(fleet.opened())}
    warm_up = runtime.site.warm_up
    site = {"state": warm_up.state, "summary": warm_up.summary(), "percent": warm_up.percent()}
    if warm_up.warming:
        return JSONResponse({"status": "warming", "site": site, "connectors": modes, "stores": stores}, 503)
    return JSONResponse({"status": "ready", "site": site, "connectors": modes, "stores": stores})


async def metrics(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE)


async def metrics_json(request: Request) -> Response:
    """One store's figures (``/app/stores/<store>/metrics.json``; the first store's at
    ``/app/metrics.json``), with each connector's mode, breaker and headroom."""
    try:
        runtime = (await store_state(request)).runtime
    except StoreForbidden:
        return forbidden(request)
    except NoSuchStore:
        return no_such_store(request)
    snapshot: dict[str, Any] = runtime.metrics.snapshot()
    snapshot["store"] = {"id": runtime.config.id, "name": runtime.config.name}
    snapshot["shared"] = runtime.shared.status().to_json() if runtime.shared else None
    snapshot["database"] = runtime.database.last_known().to_json() if runtime.database else None
    for connector in runtime.registry:
        entry = snapshot["connectors"].setdefault(connector.name, {"operations": {}})
        entry["mode"] = connector.mode
        entry["breaker"] = connector.breaker.state.value
        entry.setdefault("headroom", None)
        if entry["headroom"] is None and (headroom := connector.limiter.headroom()) is not None:
            entry["headroom"] = headroom.model_dump()
    return JSONResponse(snapshot)


async def unmatched_store_path(request: Request) -> Response:
    return await not_found(request, HTTPException(404))


async def not_found(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if path.startswith(STORES_PATH + "/"):  # a store id with a slash in it, or a page of no store
        named = path.removeprefix(STORES_PATH + "/").split("/", 1)[0]
        if not store_access(request).allows(named):
            return forbidden(request)
        if named not in directory_of(request.app.state).ids():
            return no_such_store(request)
    return PlainTextResponse("Not found. Try /healthz, /readyz, /metrics or /app/metrics.json.", 404)


def create_app(
    settings: Settings,
    *,
    fleet_factory: FleetFactory = open_fleet,
    runtime_factory: RuntimeFactory | None = None,
    endpoint: EndpointFactory | None = None,
    extensions: Sequence[Extension] = (),
    host: str | None = None,
    history_interval_s: float | None = None,
    health_interval_s: float | None = None,
) -> Starlette:
    """The pages, health and metrics, ``extensions``' routes, and ``endpoint``'s routes after them.
    ``runtime_factory``, when given, serves the one store it opens instead of ``fleet_factory``'s
    (tests)."""
    host = host or settings.host
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *store_routes("metrics.json", metrics_json, ["GET"]),
        *dashboard_routes(),
        *across_routes(),  # before an endpoint's Mount("/"), which would catch "/"
        *insights_routes(),
        *(route for extension in extensions for route in extension.routes),
        # Whatever else is under /app/stores/ (an id with a slash in it, a page of no store) is
        # ours to refuse, not the endpoint's Mount("/") to answer.
        Route(STORES_PATH + "/{rest:path}", unmatched_store_path, methods=["GET", "POST"]),
    ]
    app_ref: list[Starlette] = []

    def get_stores() -> StoreDirectory:
        stores: StoreDirectory = app_ref[0].state.fleet
        return stores

    served = endpoint(get_stores) if endpoint is not None else None

    @asynccontextmanager
    async def open_stores() -> AsyncIterator[StoreDirectory]:
        if runtime_factory is None:
            async with fleet_factory(settings) as fleet:
                yield fleet
        else:
            async with runtime_factory(settings) as runtime:
                yield OneStore(runtime)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_stores() as fleet, AsyncExitStack() as stack:
            app.state.fleet = fleet
            app.state.settings = settings
            runtime = app.state.runtime = await fleet.runtime(fleet.ids()[0])
            intervals = {
                k: v
                for k, v in (("history_interval_s", history_interval_s), ("health_interval_s", health_interval_s))
                if v is not None
            }
            app.state.dashboards = await stack.enter_async_context(dashboard_services(fleet, settings, **intervals))
            for extension in extensions:  # e.g. the Shopify app: installed shops come back as stores
                await stack.enter_async_context(extension.lifespan(app, fleet))
            await stack.enter_async_context(runtime.warming_up())
            if served is not None:
                await stack.enter_async_context(served.lifespan())
            yield

    app = Starlette(
        routes=routes + (served.routes if served else []),
        # The pages and /app/metrics.json need a login beyond loopback; /healthz, /readyz and
        # /metrics stay open for probes and scrapers.
        middleware=dashboard_middleware(settings, host=host),
        lifespan=lifespan,
        exception_handlers={404: not_found},
    )
    app_ref.append(app)
    return app
