"""Serve fakes as real HTTP servers on loopback, one port each (``storelink fakes serve``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from storelink.fakes.base import FakeUpstream
from storelink.fakes.faults import parse_fault_spec
from storelink.mock_mode import FAKE_NAMES, build_fake
from storelink.settings import Settings
from storelink.stores import environment_store

__all__ = ["ServedFake", "available_fakes", "serve_fakes"]


def available_fakes(settings: Settings) -> dict[str, Callable[[], FakeUpstream]]:
    """Every fake storelink ships, by name."""
    from storelink.fakes.data import current_demo_store, demo_wall
    from storelink.fakes.generic import GenericFake
    from storelink.fakes.google_auth import GoogleTokenFake
    from storelink.fakes.oauth import FakeAuthorizationServer
    from storelink.fakes.site import SiteFake

    found: dict[str, Callable[[], FakeUpstream]] = {
        "generic": GenericFake,
        "oauth": FakeAuthorizationServer,
        "google_auth": GoogleTokenFake,
        "site": lambda: SiteFake(store=current_demo_store(settings.demo_today)),
    }
    wall = demo_wall(settings.demo_today)
    store = environment_store(settings)
    for name in FAKE_NAMES:
        found[name] = lambda name=name: build_fake(  # type: ignore[misc]
            name, store.connector(name), demo_today=settings.demo_today, wall=wall
        )
    return found


@dataclass(frozen=True)
class ServedFake:
    name: str
    url: str
    fake: FakeUpstream


def build_servers(
    settings: Settings, names: list[str], *, host: str, port_base: int
) -> tuple[list[ServedFake], list[uvicorn.Server]]:
    factories = available_fakes(settings)
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ValueError(f"unknown fake(s): {', '.join(unknown)}; available: {', '.join(factories)}")
    plans = parse_fault_spec(settings.fake_faults)
    served: list[ServedFake] = []
    servers: list[uvicorn.Server] = []
    for offset, name in enumerate(names or list(factories)):
        fake = factories[name]()
        if name in plans:
            fake.faults = plans[name]
        port = port_base + offset
        config = uvicorn.Config(fake.app, host=host, port=port, log_level="warning", lifespan="off")
        servers.append(uvicorn.Server(config))
        served.append(ServedFake(name, f"http://{host}:{port}", fake))
    return served, servers


async def serve_fakes(servers: list[uvicorn.Server]) -> None:
    await asyncio.gather(*(server.serve() for server in servers))
