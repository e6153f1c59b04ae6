"""`storelink stores list` and `--store`: every store with each connector's mode; a command for one
store reaches that store and no other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STORELINK_DEMO_TODAY", "2026-11-20")


def test_stores_list_shows_each_store_and_each_connectors_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DEMO_STORES", "3")
    result = runner.invoke(app, ["stores", "list", "--json"])
    assert result.exit_code == 0, result.output
    stores = json.loads(result.stdout)["stores"]
    assert [(s["id"], s["name"]) for s in stores] == [
        ("demo-1", "Apex Performance Parts"),
        ("demo-2", "Northline Motorsport"),
        ("demo-3", "Redline Garage Supply"),
    ]
    assert {c["mode"] for s in stores for c in s["connectors"].values()} == {"mock"}


def test_a_stores_file_with_a_live_store_and_an_unlisted_connector(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NORTH_TOKEN", "shpat_north")
    (tmp_path / "stores.toml").write_text(
        '[[stores]]\nid = "north"\n[stores.shopify]\nshop = "north.myshopify.com"\n'
        'access_token = { env = "NORTH_TOKEN" }\n'
        '[[stores]]\nid = "south"\n[stores.shopify]\nshop = "south.myshopify.com"\n'
    )
    monkeypatch.setenv("STORELINK_STORES_FILE", str(tmp_path / "stores.toml"))
    result = runner.invoke(app, ["stores", "list", "--json"])
    assert result.exit_code == 0, result.output
    north, south = json.loads(result.stdout)["stores"]
    assert north["connectors"]["shopify"] == {"mode": "live", "missing": []}
    assert south["connectors"]["shopify"]["mode"] == "mock"
    assert "SHOPIFY_ACCESS_TOKEN" in south["connectors"]["shopify"]["missing"][0]
    assert north["connectors"]["ga4"] == {"mode": "disabled", "missing": []}
    assert "shpat_north" not in result.stdout


def test_a_broken_stores_file_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "stores.toml").write_text('[[stores]]\nid = "a"\n[stores.shopify]\naccess_token = "shpat_inline"\n')
    monkeypatch.setenv("STORELINK_STORES_FILE", str(tmp_path / "stores.toml"))
    result = runner.invoke(app, ["stores", "list"])
    assert result.exit_code == 2
    assert "is a secret; reference it" in result.output and "shpat_inline" not in result.output


def test_call_takes_a_store_and_asks_for_one_when_there_are_several(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DEMO_STORES", "2")
    result = runner.invoke(app, ["call", "shopify", "shop_info", "--store", "demo-2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data"]["name"] == "Northline Motorsport"

    which = runner.invoke(app, ["call", "shopify", "shop_info", "--json"])
    assert which.exit_code == 2
    assert json.loads(which.stdout)["error"]["message"].startswith("Say which store")

    unknown = runner.invoke(app, ["call", "shopify", "shop_info", "--store", "<script>", "--json"])
    assert unknown.exit_code == 2
    assert "<script>" not in unknown.stdout
    assert json.loads(unknown.stdout)["error"]["kind"] == "invalid_request"


def test_health_and_insights_take_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DEMO_STORES", "2")
    health = runner.invoke(app, ["health", "--store", "demo-1", "--json"])
    assert health.exit_code == 0, health.output
    assert {row["connector"] for row in json.loads(health.stdout)} == {"shopify", "ga4", "gsc", "bing", "zoho"}
    inventory = runner.invoke(app, ["insights", "inventory", "--store", "demo-2", "--json", "--limit", "3"])
    assert inventory.exit_code == 0, inventory.output
    assert json.loads(inventory.stdout)["rows"]
