"""`storelink auth zoho`: the steps for the configured data centre, and the code exchange."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from storelink.cli.auth_zoho import mint_refresh_token, zoho, zoho_instructions
from storelink.connectors.zoho.auth import MAIL_SCOPES
from storelink.errors import ConfigurationError, ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.zoho import ZohoFake
from tests.conftest import make_settings
from tests.connectors.zoho.conftest import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

GRANT = "1000.grantcode.for.test"


def test_instructions_name_the_data_centre_and_scopes(tmp_path: Path) -> None:
    text = zoho_instructions(
        make_settings(tmp_path, zoho_dc="eu", zoho_client_id=CLIENT_ID),
        scopes=MAIL_SCOPES,
        redirect_uri="http://localhost:8765/callback",
    )
    assert "https://api-console.zoho.eu" in text and "https://accounts.zoho.eu" in text
    assert "ZohoMail.accounts.READ,ZohoMail.folders.READ,ZohoMail.messages.READ,ZohoMail.messages.CREATE" in text
    assert "storelink auth zoho --code" in text
    assert "https://accounts.zoho.eu/oauth/v2/auth?scope=" in text and "access_type=offline" in text


def _fake() -> ZohoFake:
    return ZohoFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, grant_codes=[GRANT])


async def test_code_is_exchanged_at_the_data_centre(tmp_path: Path) -> None:
    fake = _fake()
    settings = make_settings(tmp_path, zoho_dc="in", zoho_client_id=CLIENT_ID, zoho_client_secret=CLIENT_SECRET)
    result = await mint_refresh_token(settings, code=GRANT, transport=InProcessTransport(fake.app))
    assert result.refresh_token.get_secret_value() == REFRESH_TOKEN
    assert result.expires_in == 3600
    assert set(fake.hosts) == {"accounts.zoho.in"}
    # Grant codes are single-use.
    with pytest.raises(ConnectorError) as info:
        await mint_refresh_token(settings, code=GRANT, transport=InProcessTransport(fake.app))
    assert info.value.kind is ErrorKind.UNAUTHORIZED and "ZOHO_DC='in'" in info.value.message


async def test_client_credentials_are_needed(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ZOHO_CLIENT_ID"):
        await mint_refresh_token(make_settings(tmp_path), code=GRANT)


def test_command_prints_the_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    app.command("zoho")(zoho)

    @app.command("other")
    def other() -> None:  # keeps typer from folding `zoho` into the root
        pass

    monkeypatch.setenv("ZOHO_DC", "com.au")
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["zoho", "--read-only"])
    assert result.exit_code == 0, result.output
    assert "api-console.zoho.com.au" in result.stdout
    assert "ZohoMail.messages.READ" in result.stdout and "CREATE" not in result.stdout

    failed = CliRunner().invoke(app, ["zoho", "--code", GRANT])  # no client configured
    assert failed.exit_code == 2 and "ZOHO_CLIENT_ID" in failed.output


def test_registered_under_storelink_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storelink.cli.auth import auth_app

    monkeypatch.setenv("ZOHO_DC", "eu")
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(auth_app, ["zoho"])
    assert result.exit_code == 0, result.output
    assert "https://api-console.zoho.eu" in result.stdout
