"""The installed-app flow over a real loopback redirect, with the fake consent page and token
endpoint standing in for Google; and `storelink auth google` refusing without a client."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from storelink.auth.installed_app import InstalledAppError, run_installed_app_flow
from storelink.cli.auth import auth_app, consent_url_for
from storelink.fakes.base import InProcessTransport
from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, GoogleTokenFake

FAKE = "https://accounts.fake.example"


async def test_flow_mints_a_refresh_token_that_then_works() -> None:
    fake = GoogleTokenFake()
    seen: dict[str, str] = {}

    async def browser(url: str) -> None:
        # What a person's browser does: open the consent page, follow its redirect to 127.0.0.1.
        query = parse_qs(urlsplit(url).query)
        seen.update({k: v[0] for k, v in query.items()})
        async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as google:
            consent = await google.get(url.replace("https://accounts.google.com", FAKE))
        assert consent.status_code == 302
        async with httpx2.AsyncClient() as local:
            landing = await local.get(consent.headers["location"])
        assert landing.status_code == 200

    result = await run_installed_app_flow(
        client_id=DEMO_CLIENT_ID,
        client_secret=SecretStr(DEMO_CLIENT_SECRET),
        scopes=("https://www.googleapis.com/auth/analytics.readonly",),
        token_url=f"{FAKE}/token",
        open_browser=browser,
        transport=InProcessTransport(fake.app),
        timeout_s=10,
    )
    assert seen["access_type"] == "offline" and seen["prompt"] == "consent"
    assert seen["code_challenge_method"] == "S256" and seen["redirect_uri"].startswith("http://127.0.0.1:")
    assert result.refresh_token.get_secret_value().startswith("1//fake-")
    assert fake.grants["authorization_code"] == 1
    # The new refresh token is one Google (the fake) honours.
    assert result.refresh_token.get_secret_value() in fake.state.refresh_tokens


async def test_a_redirect_with_the_wrong_state_is_ignored() -> None:
    async def browser(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        async with httpx2.AsyncClient() as local:
            forged = await local.get(f"{redirect}/?code=4/forged&state=not-the-state")
            assert forged.status_code == 404
            denied = await local.get(
                f"{redirect}/?error=access_denied&state={parse_qs(urlsplit(url).query)['state'][0]}"
            )
            assert denied.status_code == 200

    with pytest.raises(InstalledAppError) as info:
        await run_installed_app_flow(
            client_id=DEMO_CLIENT_ID,
            client_secret=SecretStr(DEMO_CLIENT_SECRET),
            scopes=("s",),
            token_url=f"{FAKE}/token",
            open_browser=browser,
            timeout_s=10,
        )
    assert "access_denied" in str(info.value)


async def test_no_redirect_times_out_with_advice() -> None:
    async def browser(url: str) -> None:
        return None

    with pytest.raises(InstalledAppError) as info:
        await run_installed_app_flow(
            client_id="c",
            client_secret=SecretStr("s"),
            scopes=("s",),
            token_url=f"{FAKE}/token",
            open_browser=browser,
            timeout_s=0.2,
        )
    assert "No redirect arrived" in str(info.value)


def test_consent_url_follows_a_fake_token_endpoint() -> None:
    assert consent_url_for("https://oauth2.googleapis.com/token") == "https://accounts.google.com/o/oauth2/v2/auth"
    assert consent_url_for("http://127.0.0.1:9100/token") == "http://127.0.0.1:9100/o/oauth2/v2/auth"


def test_cli_without_a_client_says_what_to_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(auth_app, ["google", "--no-browser"])
    assert result.exit_code == 2
    assert "GOOGLE_CLIENT_ID" in result.output and "Desktop app" in result.output
