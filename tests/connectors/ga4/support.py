"""Wiring shared by the Google connector tests: settings with live credentials, and a runtime
whose GA4 / Search Console wire is a given fake (token endpoint included, on the same app)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from storelink.connectors.base import Connector
from storelink.fakes.base import FakeUpstream, InProcessTransport
from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

PROPERTY = "412345678"
SITE = "sc-domain:apexperformanceparts.example"


def live_settings(
    tmp_path: Path,
    *,
    refresh_token: str = DEMO_REFRESH_TOKEN,
    client_secret: str = DEMO_CLIENT_SECRET,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "ga4_property_id": PROPERTY,
        "gsc_site_url": SITE,
        "google_client_id": DEMO_CLIENT_ID,
        "google_client_secret": SecretStr(client_secret),
        "google_refresh_token": SecretStr(refresh_token),
    }
    return make_settings(tmp_path, **{**values, **overrides})


@asynccontextmanager
async def google_runtime(
    settings: Settings,
    connectors: Sequence[type[Connector]],
    fakes: dict[str, FakeUpstream],
    *,
    store: EmbeddedStore | None = None,
) -> AsyncIterator[Runtime]:
    async with open_runtime(
        settings,
        connectors=connectors,
        transports={name: InProcessTransport(fake.app) for name, fake in fakes.items()},
        metrics=Metrics(),
        store=store or EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt
