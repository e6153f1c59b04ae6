"""The operations dashboard: pages over the registry, the metrics, the history and the SLOs.

Mounted by ``create_app`` (web/app.py)::

    from storelink.web.dashboard import dashboard_middleware, dashboard_routes
    from storelink.web.state import dashboard_services

    Starlette(routes=[...core routes..., *dashboard_routes()],
              middleware=dashboard_middleware(settings), lifespan=...)

Pages (all guarded by :mod:`storelink.web.auth`), each for one store, ``S`` = ``/app/stores/<store>``:

=================================  ==========================================================
``S``                              one card per connector: mode, health, breaker, 5-minute error
                                   rate and p95, throttles, headroom, cache hits, last error
``S/connectors/<name>``            1 h / 24 h charts, retries and throttles, recent errors,
                                   operations; ``POST …/probe`` probes now
``S/metrics``                      every connector's and operation's figures (JSON:
                                   ``S/metrics.json``, served by the core)
``S/settings``                     flags, connector modes, missing credentials and how to set
                                   them, the effective configuration with secrets masked
``S/slo``                          each SLO's target, budget left and burn over 5m … 3d
``S/events``                       Server-Sent Events: the overview's figures every 2 s
``/app/stores``                    every store (web/across.py)
``/app/login`` ``/app/logout``     password sign-in (when ``STORELINK_DASHBOARD_PASSWORD`` is set)
=================================  ==========================================================

The single-store URLs (``/``, ``/app/connectors/<name>``, ``/app/metrics``, …) serve the first
store, as they did before there were several (web/stores.py). Every page carries the store
switcher; an unknown store is a 404 page that lists the stores.

Every page renders (status 200) whatever the connectors do: unauthorized, forbidden, timing out
or down, it says so on the card. Pages read local state only and never wait on an upstream,
except ``POST …/probe``, which is bounded by the health board's timeout.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from storelink.insights.inventory import cover_words, money
from storelink.observability.logs import redact
from storelink.runtime import Runtime
from storelink.settings import Settings
from storelink.web import views
from storelink.web.auth import CSRF_FIELD, AccessPolicy, CsrfError, DashboardGuard, require_csrf
from storelink.web.state import DashboardState, dashboards_for, directory_of
from storelink.web.stores import (
    NoSuchStore,
    StoreForbidden,
    Switcher,
    linker,
    page_suffix,
    reachable_stores,
    requested_store,
    store_access,
    store_listing,
    store_url,
    switcher,
)

__all__ = [
    "EVENTS_INTERVAL_S",
    "dashboard_middleware",
    "dashboard_routes",
    "forbidden",
    "no_such_store",
    "page",
    "render",
    "store_state",
]

log = logging.getLogger("storelink.web")

HERE = Path(__file__).parent
EVENTS_INTERVAL_S = 2.0
STREAM_MAX_S = 120.0  # then the browser reconnects; keeps shutdowns from waiting on open streams

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["ms"] = views.fmt_ms
templates.env.filters["pct"] = views.fmt_pct
templates.env.filters["ago"] = views.fmt_ago
templates.env.filters["cover"] = cover_words
templates.env.filters["money"] = money
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD

Handler = Callable[[Request], Awaitable[Response]]

# Pages load only their own CSS and JS; nothing may frame them (clickjacking) or cache them.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _policy(request: Request) -> AccessPolicy | None:
    found = request.scope.get("state", {}).get("dashboard_policy")
    return found if isinstance(found, AccessPolicy) else None


def _switcher(request: Request) -> Switcher:
    """The switcher the page's store set (:func:`store_state`), else one around no store whose
    nav leads to the first store (both name only the stores within the request's reach)."""
    found = request.scope.get("state", {}).get("store_switcher")
    if isinstance(found, Switcher):
        return found
    try:
        directory = directory_of(request.app.state)
    except RuntimeError:
        return Switcher(current=None, links=[], total=0)
    access = store_access(request)
    ids = [s.id for s in reachable_stores(directory, access)]
    return switcher(directory, None, "", access) if len(ids) != 1 else switcher(directory, ids[0], "", access)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    state = request.scope.get("state", {})
    policy = _policy(request)
    stores = _switcher(request)
    base = {
        "user": state.get("dashboard_user"),
        "csrf_token": state.get("csrf_token", ""),
        "access_mode": policy.mode if policy else "unguarded",
        "path": request.url.path,
        "now": time.time(),
        "stores": stores,
        "at": linker(request, stores.current.id if stores.current else None),  # at("metrics"): this store's
    }
    response = templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def page(handler: Handler) -> Handler:
    """Refuse when the guard is missing; turn any failure into a page that says what went wrong."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        if _policy(request) is None:
            return Response(
                "The dashboard's access guard is not installed: add dashboard_middleware(settings) to the app.",
                503,
                media_type="text/plain",
            )
        try:
            return await handler(request)
        except StoreForbidden:
            return forbidden(request)
        except NoSuchStore:
            return no_such_store(request)
        except CsrfError as exc:
            return render(request, "problem.html", {"title": "Form refused", "message": str(exc)}, 403)
        except Exception as exc:
            log.exception("dashboard page %s failed", request.url.path)
            secrets = _secrets(request)
            message = redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
            return render(request, "problem.html", {"title": "This page could not be built", "message": message})

    return wrapped


def no_such_store(request: Request) -> Response:
    """404: the stores there are (escaped, at most a page of them), never the id asked for."""
    try:
        listed, more = store_listing(directory_of(request.app.state), access=store_access(request))
    except RuntimeError:
        listed, more = [], 0
    context = {"listed": listed, "more": more, "nav": ""}
    if request.url.path.endswith(".json"):
        stores = [{"id": s.id, "name": s.name} for s in listed]
        return JSONResponse({"error": "There is no such store.", "stores": stores, "more": more}, 404)
    return render(request, "no_store.html", context, 404)


def forbidden(request: Request) -> Response:
    """403 ``forbidden``: the store asked for is out of this credential's reach (whether or not it
    exists); names the stores it does reach, never the id asked for."""
    message = "This credential may not reach that store."
    if request.url.path.endswith(".json"):
        return JSONResponse({"error": "forbidden", "message": message}, 403)
    return render(request, "problem.html", {"title": "Forbidden", "message": message, "nav": ""}, 403)


def _secrets(request: Request) -> list[str]:
    """Every secret a failing page might print: the environment's and every store's."""
    runtime = getattr(request.app.state, "runtime", None)
    found = runtime.settings.secret_values() if runtime is not None else []
    fleet = getattr(request.app.state, "fleet", None)
    for config in fleet.stores() if fleet is not None else ():
        found.extend(config.secret_values())
    return found


async def store_state(request: Request) -> DashboardState:
    """The dashboard state of the store the request is for (opening the store on first use), and
    the switcher for the page (in the request's state, where :func:`render` finds it)."""
    dashboards = dashboards_for(request.app.state)
    store_id = requested_store(request, dashboards.directory)
    state = await dashboards.open(store_id)
    request.state.store_switcher = switcher(
        dashboards.directory, store_id, page_suffix(request.url.path), store_access(request)
    )
    return state


@page
async def overview(request: Request) -> Response:
    state = await store_state(request)
    found, problems = views.cards(state)
    site = views.site_display(state)
    shared = shared_parts(state.runtime)
    context = {"cards": found, "problems": problems, "site": site, "shared": shared, "nav": "overview"}
    return render(request, "overview.html", context)


def shared_parts(runtime: Runtime) -> list[dict[str, str]]:
    """What replicas share, when the deployment has it: Redis (budgets, cache, tokens) and
    PostgreSQL (the audit trail, logouts, sealed tokens), each with its state as last seen."""
    parts = []
    if runtime.shared is not None:
        status = runtime.shared.status()
        parts.append({"name": "Redis", "state": "degraded" if status.degraded else "ok", "message": status.message})
    if runtime.database is not None:
        known = runtime.database.last_known()
        parts.append({"name": "PostgreSQL", "state": "ok" if known.reachable else "down", "message": known.message})
    return parts


@page
async def connector_detail(request: Request) -> Response:
    state = await store_state(request)
    name = request.path_params["name"]
    if name not in state.runtime.registry.names():
        known = ", ".join(state.runtime.registry.names()) or "none"
        return render(request, "problem.html", {"title": "No such connector", "message": f"Connectors: {known}."}, 404)
    connector = state.runtime.registry.get(name)
    detail = views.connector_page(state, connector)
    return render(request, "connector.html", {"page": detail, "c": detail.card, "nav": "overview"})


@page
async def probe_now(request: Request) -> Response:
    await require_csrf(request)
    state = await store_state(request)
    name = request.path_params["name"]
    if name not in state.runtime.registry.names():
        return render(request, "problem.html", {"title": "No such connector", "message": name}, 404)
    await state.board.probe(state.runtime.registry.get(name))
    return RedirectResponse(linker(request, state.store_id)(f"connectors/{name}"), 303)


@page
async def metrics_page(request: Request) -> Response:
    state = await store_state(request)
    snapshot = state.runtime.metrics.snapshot()
    # Only connectors have a page; the site fetcher and the LLM endpoint record metrics too.
    pages = set(state.runtime.registry.names())
    return render(request, "metrics.html", {"snapshot": snapshot, "pages": pages, "nav": "metrics"})


@page
async def settings_page(request: Request) -> Response:
    state = await store_state(request)
    policy = _policy(request)
    detail = views.settings_page(state, policy.mode if policy else "unguarded")
    return render(request, "settings.html", {"page": detail, "nav": "settings", "store": state.runtime.config})


@page
async def slo_page(request: Request) -> Response:
    state = await store_state(request)
    statuses, problems = views.slo_rows(state)
    return render(
        request,
        "slo.html",
        {"statuses": statuses, "problems": problems, "spec": state.slos, "nav": "slo", "state": state},
    )


@page
async def events(request: Request) -> Response:
    state = await store_state(request)
    interval = float(request.query_params.get("interval", EVENTS_INTERVAL_S))
    interval = min(max(interval, 0.2), 60.0)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_MAX_S
        while loop.time() < ends:
            try:
                payload = views.live_payload(state)
            except Exception as exc:  # noqa: BLE001
                payload = {"at": time.time(), "problems": [f"{type(exc).__name__}"], "connectors": {}}
            yield f"event: snapshot\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
            await asyncio.sleep(interval)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@page
async def login_form(request: Request) -> Response:
    policy = _policy(request)
    return render(
        request,
        "login.html",
        {"next": _safe_next(request.query_params.get("next")), "error": None, "policy": policy, "nav": ""},
    )


@page
async def login(request: Request) -> Response:
    fields = await require_csrf(request)
    policy = _policy(request)
    assert policy is not None
    target = _safe_next(fields.get("next"))
    client = request.client.host if request.client else "?"
    context: dict[str, Any] = {"next": target, "policy": policy, "nav": ""}
    if policy.mode != "password":
        return render(request, "login.html", {**context, "error": "Password sign-in is not configured."}, 400)
    wait = policy.logins.blocked(client)
    if wait:
        return render(request, "login.html", {**context, "error": f"Too many attempts; wait {wait:.0f} s."}, 429)
    if not policy.check_password(fields.get("password", "")):
        policy.logins.failed(client)
        return render(request, "login.html", {**context, "error": "Wrong password."}, 401)
    policy.logins.succeeded(client)
    response = RedirectResponse(target, 303)
    response.headers.append(
        "set-cookie", policy.cookie(policy.new_session("admin"), secure=request.url.scheme == "https")
    )
    return response


@page
async def logout(request: Request) -> Response:
    await require_csrf(request)
    policy = _policy(request)
    assert policy is not None
    response = RedirectResponse("/app/login" if policy.mode == "password" else "/", 303)
    response.headers.append("set-cookie", policy.cookie(policy.new_session(), secure=request.url.scheme == "https"))
    return response


async def app_root(request: Request) -> Response:
    return RedirectResponse("/", 307)


def store_routes(rest: str, endpoint: Handler, methods: list[str]) -> list[BaseRoute]:
    """``endpoint`` at ``/app/stores/{store}/<rest>`` and at its single-store URL of before (the
    first store's): ``/`` for a store's overview, else ``/app/<rest>``."""
    old = f"/app/{rest}" if rest else "/"
    return [Route(store_url("{store}", rest), endpoint, methods=methods), Route(old, endpoint, methods=methods)]


def dashboard_routes() -> list[BaseRoute]:
    return [
        *store_routes("", overview, ["GET"]),
        Route("/app", app_root, methods=["GET"]),
        *store_routes("connectors/{name}", connector_detail, ["GET"]),
        *store_routes("connectors/{name}/probe", probe_now, ["POST"]),
        *store_routes("metrics", metrics_page, ["GET"]),
        *store_routes("settings", settings_page, ["GET"]),
        *store_routes("slo", slo_page, ["GET"]),
        *store_routes("events", events, ["GET"]),
        Route("/app/login", login_form, methods=["GET"]),
        Route("/app/login", login, methods=["POST"]),
        Route("/app/logout", logout, methods=["POST"]),
        Mount("/app/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


def dashboard_middleware(settings: Settings, *, host: str | None = None) -> list[Middleware]:
    """The access guard (login, session, CSRF token, loopback and Host checks) for the pages.
    ``host`` is the address actually bound when it differs from ``STORELINK_HOST``."""
    return [Middleware(DashboardGuard, policy=AccessPolicy(settings, host=host))]
