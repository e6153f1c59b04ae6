"""A known secret value (the canary) must never appear in `storelink config`, an error message, a
log line, /metrics, /app/metrics.json or an MCP result."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.main import app as cli
from storelink.main import create_app
from storelink.observability.logs import configure_logging
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import CANARY, make_settings

SECRETS = {
    "SHOPIFY_SHOP": "apex-demo.myshopify.com",
    "SHOPIFY_ACCESS_TOKEN": CANARY,
    "SHOPIFY_CLIENT_SECRET": CANARY + "-client",
    "MCP_API_KEY": CANARY + "-mcp",
    "GOOGLE_REFRESH_TOKEN": CANARY + "-google",
}


def test_config_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for flag in ([], ["--json"], ["--markdown"]):
        result = CliRunner().invoke(cli, ["config", *flag])
        assert result.exit_code == 0, result.output
        assert CANARY not in result.output
    shown = json.loads(CliRunner().invoke(cli, ["config", "--json"]).output)
    assert shown["SHOPIFY_ACCESS_TOKEN"] == "********"
    assert shown["SHOPIFY_SHOP"] == "apex-demo.myshopify.com"


async def test_errors_logs_and_metrics_never_carry_the_canary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(
        tmp_path, shopify_shop="apex-demo.myshopify.com", shopify_access_token=CANARY, log_level="DEBUG"
    )
    configure_logging(settings)
    logging.getLogger().addHandler(caplog.handler)  # the redacting filter sits on every root handler
    caplog.set_level(logging.DEBUG)
    fake = ShopifyFake()  # does not know the canary: every call is a 401
    messages: list[str] = []
    async with open_runtime(
        settings,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        store=EmbeddedStore(None),
    ) as rt:
        connector = rt.registry.get("shopify")
        for operation in ("shop_info", "list_products"):
            with pytest.raises(ConnectorError) as info:
                await connector.call(operation, {})
            messages += [str(info.value), repr(info.value), info.value.envelope().model_dump_json()]
        logging.getLogger("storelink.test").warning("token is %s", CANARY)  # even a careless log line
        logging.getLogger("httpx2").warning("GET https://x.example/?apikey=%s", CANARY)
        prometheus = rt.metrics.render().decode()
        snapshot = json.dumps(rt.metrics.snapshot())
        health = (await connector.health()).model_dump_json()
    logs = "\n".join(h.format(r) for h in logging.getLogger().handlers for r in caplog.records)
    assert "rejected the credentials (401)" in messages[0]
    for text in (*messages, prometheus, snapshot, health, logs, caplog.text):
        assert CANARY not in text
    assert "***" in logs


def test_pages_and_metrics_never_carry_the_canary(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shopify_shop="apex-demo.myshopify.com", shopify_access_token=CANARY)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8765", client=("127.0.0.1", 50123)) as client:
        pages = ("/", "/app/settings", "/app/slo", "/app/metrics", "/app/connectors/shopify")
        for path in ("/healthz", "/readyz", "/metrics", "/app/metrics.json", *pages):
            response = client.get(path)
            assert response.status_code == 200, path
            assert CANARY not in response.text
