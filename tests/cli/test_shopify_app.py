"""``storelink shopify app-config``: writes the file for STORELINK_APP_URL; bad input is one line, exit 2."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.cli.app import app


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SHOPIFY_API_KEY", "client-id-1")
    monkeypatch.setenv("COLUMNS", "200")
    return monkeypatch


def test_app_config_writes_shopify_app_toml(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("STORELINK_APP_URL", "https://sl.example.com")
    result = CliRunner().invoke(app, ["shopify", "app-config", "--out", str(tmp_path / "shopify.app.toml")])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "https://sl.example.com" in result.output
    parsed = tomllib.loads((tmp_path / "shopify.app.toml").read_text(encoding="utf-8"))
    assert parsed["client_id"] == "client-id-1" and parsed["embedded"] is True
    assert parsed["application_url"] == "https://sl.example.com/shopify/app"


def test_app_config_prints_with_a_dash(env: pytest.MonkeyPatch) -> None:
    env.setenv("STORELINK_APP_URL", "https://sl.example.com")
    result = CliRunner().invoke(app, ["shopify", "app-config", "-o", "-"])
    assert result.exit_code == 0
    assert tomllib.loads(result.stdout)["auth"]["redirect_urls"] == ["https://sl.example.com/shopify/callback"]


@pytest.mark.parametrize(
    ("url", "says"),
    [(None, "STORELINK_APP_URL is not set"), ("http://sl.example.com", "must be an https URL")],
)
def test_bad_input_is_one_line_and_exit_2(env: pytest.MonkeyPatch, tmp_path: Path, url: str | None, says: str) -> None:
    if url is not None:
        env.setenv("STORELINK_APP_URL", url)
    result = CliRunner().invoke(app, ["shopify", "app-config", "--out", str(tmp_path / "out.toml")])
    assert result.exit_code == 2
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.toml").exists()
