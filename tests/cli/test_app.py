"""The CLI as its user meets it: `storelink call`, `health`, `config`, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.cli.app import parse_param
from storelink.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def mock_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))


def test_call_prints_the_envelope_in_mock_mode() -> None:
    result = runner.invoke(app, ["call", "shopify", "list_products", "-p", "limit=5", "--json"])
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert len(envelope["data"]["items"]) == 5
    assert envelope["meta"]["mode"] == "mock"
    assert envelope["meta"]["connector"] == "shopify"


def test_call_errors_print_the_error_envelope_and_exit_non_zero() -> None:
    result = runner.invoke(app, ["call", "shopify", "get_order", "-p", "id=#99999999", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["kind"] == "not_found"


@pytest.mark.parametrize(
    "args",
    [
        ["call", "shopify", "list_products", "-p", "limit=zero", "--json"],
        ["call", "shopify", "no_such_operation", "--json"],
        ["call", "nowhere", "list_products", "--json"],
    ],
)
def test_bad_input_is_invalid_request_with_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "invalid_request"
    assert error["message"]


def test_malformed_param_is_refused() -> None:
    result = runner.invoke(app, ["call", "shopify", "list_products", "-p", "limit"])
    assert result.exit_code == 2
    assert "key=value" in result.output


def test_params_are_json_when_they_can_be() -> None:
    assert parse_param("limit=5") == ("limit", 5)
    assert parse_param("only_low=true") == ("only_low", True)
    assert parse_param("query=title:*brake*") == ("query", "title:*brake*")
    assert parse_param("id=#1001") == ("id", "#1001")


def test_health_json_reports_each_connector() -> None:
    result = runner.invoke(app, ["health", "--json"])
    assert result.exit_code == 0, result.output
    reports = {r["connector"]: r for r in json.loads(result.stdout)}
    assert reports["shopify"]["mode"] == "mock"
    assert reports["shopify"]["status"] == "ok"


def test_invalid_configuration_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_SHOPIFY_TIMEOUT", "-1")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "STORELINK_SHOPIFY_TIMEOUT" in result.output


def test_bad_settings_name_the_variables_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_REPLICAS", "0")
    monkeypatch.setenv("STORELINK_SHOPIFY_RATE_LIMIT", "-1")
    monkeypatch.setenv("STORELINK_DEMO_TODAY", "soon")
    result = runner.invoke(app, ["health"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "3 problem(s)" in said
    for variable in ("STORELINK_REPLICAS:", "STORELINK_SHOPIFY_RATE_LIMIT:", "STORELINK_DEMO_TODAY:"):
        assert variable in said
