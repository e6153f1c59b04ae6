"""Apps for the dashboard's tests: the core's ``create_app`` with the dashboard mounted the way
``create_app`` mounts it, over generic connectors that are healthy or fail in every way a page
must survive (unauthorized, forbidden, timing out, down)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypedDict

import httpx2
from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from storelink.connectors.base import Connector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.generic import GenericFake
from storelink.main import create_app
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.settings import ConnectorKnobs, Settings
from storelink.store import EmbeddedStore
from storelink.web.state import Dashboards, DashboardState
from tests.support.generic_connector import GenericConnector

FAST = {
    "timeout": 0.3,
    "connect_timeout": 0.3,
    "deadline": 1.5,
    "max_retries": 1,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "rate_limit": 1000.0,
    "rate_burst": 1000.0,
    "breaker_min_calls": 4,
    "breaker_window": 4,
    "breaker_open_s": 60.0,
    "cache_ttl": 0.0,
}

NAMES = ("alpha", "unauth", "forbidden", "slow", "down")


class ClientAddress(TypedDict):
    """Where a ``TestClient`` sends from and to: its keyword arguments, typed."""

    base_url: str
    client: tuple[str, int]


# The pages and /app/metrics.json are open only to loopback callers without a login.
LOCAL: ClientAddress = {"base_url": "http://127.0.0.1:8765", "client": ("127.0.0.1", 50123)}


class OpsSettings(Settings):
    alpha: ConnectorKnobs = ConnectorKnobs(**FAST)
    unauth: ConnectorKnobs = ConnectorKnobs(**FAST)
    forbidden: ConnectorKnobs = ConnectorKnobs(**FAST)
    slow: ConnectorKnobs = ConnectorKnobs(**FAST)
    down: ConnectorKnobs = ConnectorKnobs(**FAST, base_url="http://127.0.0.1:1")  # nothing listens


def ops_settings(tmp_path: Path, **overrides: Any) -> OpsSettings:
    overrides.setdefault("enable_mcp", False)
    return OpsSettings(_env_file=None, data_dir=tmp_path / "data", **overrides)


def _connector(name: str, title: str) -> type[Connector]:
    return type(f"{title.replace(' ', '')}Connector", (GenericConnector,), {"name": name, "title": title})


CONNECTORS: dict[str, type[Connector]] = {
    "alpha": _connector("alpha", "Alpha Shop"),
    "unauth": _connector("unauth", "Unauthorized API"),
    "forbidden": _connector("forbidden", "Forbidden API"),
    "slow": _connector("slow", "Slow API"),
    "down": _connector("down", "Down API"),
}


async def _forbidden(request: Request) -> JSONResponse:
    return JSONResponse({"error": {"code": 403, "message": "The token lacks the read_items scope."}}, 403)


def forbidden_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _forbidden, methods=["GET", "POST"])])


class World:
    """The fakes behind the connectors, so a test can change what they do."""

    def __init__(self) -> None:
        self.alpha = GenericFake(faults=FaultPlan())
        self.unauth = GenericFake(tokens=frozenset({"someone-else"}))
        self.slow = GenericFake(faults=FaultPlan(rates={Fault.STALL: 1.0}, stall_s=30.0))

    def transports(self, failing: bool) -> dict[str, httpx2.AsyncBaseTransport]:
        alpha = InProcessTransport(self.alpha.app)
        if failing:
            self.alpha.faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        return {
            "alpha": alpha,
            "unauth": InProcessTransport(self.unauth.app),
            "forbidden": InProcessTransport(forbidden_app()),
            "slow": InProcessTransport(self.slow.app),
        }


RuntimeFactory = Callable[[Settings], AbstractAsyncContextManager[Runtime]]


def runtime_factory(world: World, *, failing: bool = False, names: tuple[str, ...] = NAMES) -> RuntimeFactory:
    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[Runtime]:
        async with open_runtime(
            settings,
            connectors=[CONNECTORS[n] for n in names],
            transports={k: v for k, v in world.transports(failing).items() if k in names},
            metrics=Metrics(),
            store=EmbeddedStore(None),
        ) as runtime:
            yield runtime

    return factory


def build_app(
    settings: Settings,
    factory: RuntimeFactory,
    *,
    history_interval_s: float = 60.0,
    health_interval_s: float = 60.0,
) -> Starlette:
    """The app as ``storelink serve`` builds it, over the test connectors."""
    return create_app(
        settings, runtime_factory=factory, history_interval_s=history_interval_s, health_interval_s=health_interval_s
    )


def app_of(client: TestClient) -> Starlette:
    """The app a client drives (every app these tests build is a Starlette one)."""
    assert isinstance(client.app, Starlette), client.app
    return client.app


def portal_of(client: TestClient) -> BlockingPortal:
    """The portal into the app's event loop: there is one only while the client runs (``with``)."""
    assert client.portal is not None, "the TestClient is not running"
    return client.portal


def dashboard_of(app: Starlette, store: str | None = None) -> DashboardState:
    """The dashboard state of ``store`` (the first store when None), which must be open."""
    dashboards: Dashboards = app.state.dashboards
    found = dashboards.get(store or dashboards.directory.ids()[0])
    assert found is not None, f"store {store} is not open"
    return found
