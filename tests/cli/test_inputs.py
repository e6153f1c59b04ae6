"""`storelink call` with mistaken and hostile parameters: an error envelope and exit 2, never a
traceback, and a short message whatever the size of the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.connectors.base import Connector
from storelink.main import app

runner = CliRunner()
MAIL = ["-p", "subject=Your order", "-p", "content=It ships today."]


@pytest.fixture(autouse=True)
def mock_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STORELINK_ALLOW_WRITES", "*")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["zoho", "send_message", "-p", "to=null", *MAIL], "to"),
        (["bing", "submit_urls", "-p", 'urls=["http://[oops"]'], "urls"),
        (
            [
                "bing",
                "submit_urls",
                "-p",
                'urls=["https://www.apexperformanceparts.example/"]',
                "-p",
                "site_url=http://[oops",
            ],
            "site_url",
        ),
        (
            ["zoho", "send_message", "-p", "to=buyer@example.com", "-p", "idempotency_kye=order-1042", *MAIL],
            "idempotency_key",
        ),
        (["shopify", "list_products", "-p", "limit=" + "9" * 500_000], "limit"),
        (["zoho", "send_message", "-p", "to=" + "x" * 500_000, *MAIL], "to"),
        (["shopify", "list_products", "-p", "x" * 500_000 + "=1"], "limit"),
        (["shopify", "x" * 500_000], "operation"),
    ],
)
def test_bad_parameters_are_a_short_invalid_request(args: list[str], named: str) -> None:
    result = runner.invoke(app, ["call", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output[:500]
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "invalid_request"
    assert named in error["message"]
    assert len(error["message"]) <= 1000, error["message"][:300]
    assert "x" * 100 not in error["message"] and "9" * 100 not in error["message"]


def test_unknown_parameters_name_the_valid_ones() -> None:
    result = runner.invoke(app, ["call", "shopify", "list_products", "-p", "limt=5"])
    assert result.exit_code == 2
    assert "limt" in result.stderr and "limit" in result.stderr


@pytest.mark.parametrize("as_json", [True, False])
def test_an_unexpected_error_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    async def broken(self: object, operation: str, params: object = None) -> None:
        raise RuntimeError("token=shpat_SECRET in a message nobody meant to show")

    monkeypatch.setattr(Connector, "call", broken)
    result = runner.invoke(app, ["call", "shopify", "shop_info", *(["--json"] if as_json else [])])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "shpat_SECRET" not in result.output
    if as_json:
        assert json.loads(result.stdout)["error"]["kind"] == "internal_error"
    else:
        assert "internal_error" in result.stderr
