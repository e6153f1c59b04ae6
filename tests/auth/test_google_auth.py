"""Google token managers against the fake token endpoint: refresh ahead of expiry, one refresh
however many wait, the cache in the embedded store, invalid_grant, service-account JWTs."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from storelink.auth.google import (
    ANALYTICS_READONLY,
    JWT_BEARER,
    GoogleTokenManager,
    Grant,
    RefreshTokenGrant,
    load_key_file,
)
from storelink.auth.tokens import CachedToken, TokenCache, WallClock
from storelink.clock import LoopClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import FaultPlan
from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN, GoogleTokenFake
from storelink.store import EmbeddedStore

pytestmark = pytest.mark.looptime

TOKEN_URL = "https://oauth2.googleapis.com/token"
CANARY_REFRESH = "1//CANARY-refresh-7f3e9a0b1c2d"
CANARY_SECRET = "GOCSPX-CANARY-secret-55aa77"


def refresh_grant(token: str = DEMO_REFRESH_TOKEN, secret: str = DEMO_CLIENT_SECRET) -> RefreshTokenGrant:
    return RefreshTokenGrant(DEMO_CLIENT_ID, SecretStr(secret), SecretStr(token))


def manager(
    fake: GoogleTokenFake,
    grant: Grant | None = None,
    *,
    cache: TokenCache | None = None,
    loader: object = None,
) -> GoogleTokenManager:
    clock = LoopClock()
    chosen = grant or refresh_grant()
    return GoogleTokenManager(
        grant_loader=loader if callable(loader) else (lambda: chosen),
        scopes=(ANALYTICS_READONLY,),
        accepted_scopes=(ANALYTICS_READONLY,),
        token_url=TOKEN_URL,
        client=httpx2.AsyncClient(transport=InProcessTransport(fake.app)),
        clock=clock,
        wall=WallClock(clock),
        cache=cache or TokenCache(None),
        connector="ga4",
        api_host="analyticsdata.googleapis.com",
    )


async def test_hundred_waiting_calls_cause_one_refresh() -> None:
    fake = GoogleTokenFake()
    m = manager(fake)
    tokens = await asyncio.gather(*(m.token() for _ in range(100)))
    assert len(set(tokens)) == 1
    assert fake.grants["refresh_token"] == 1
    await m.aclose()


async def test_refreshes_ahead_of_expiry_not_on_a_401() -> None:
    fake = GoogleTokenFake(expires_in=3599)
    m = manager(fake)
    first = await m.token()
    await asyncio.sleep(3599 - 400)  # 400 s left: still outside the 300 s margin
    assert await m.token() == first
    await asyncio.sleep(150)  # 250 s left: inside the margin, so renewed before it can expire
    second = await m.token()
    assert second != first
    assert fake.grants["refresh_token"] == 2
    assert fake.rejected_bearer == 0
    await m.aclose()


async def test_expiring_token_with_100_waiters_is_refreshed_once() -> None:
    fake = GoogleTokenFake(expires_in=3599)
    m = manager(fake)
    await m.token()
    await asyncio.sleep(3599 - 60)
    tokens = await asyncio.gather(*(m.token() for _ in range(100)))
    assert len(set(tokens)) == 1
    assert fake.grants["refresh_token"] == 2
    await m.aclose()


async def test_apply_puts_the_bearer_on_the_api_host_only() -> None:
    fake = GoogleTokenFake()
    m = manager(fake)
    api = httpx2.Request("POST", "https://analyticsdata.googleapis.com/v1beta/properties/1:runReport")
    other = httpx2.Request("GET", "https://storage.example/file")
    await m.apply(api)
    await m.apply(other)
    assert api.headers["authorization"].startswith("Bearer ya29.")
    assert "authorization" not in other.headers
    await m.aclose()


async def test_refresh_after_401_fetches_once_for_many_rejected_requests() -> None:
    fake = GoogleTokenFake()
    m = manager(fake)
    rejected = []
    for _ in range(5):
        request = httpx2.Request("GET", "https://analyticsdata.googleapis.com/x")
        await m.apply(request)
        rejected.append(request)
    await asyncio.gather(*(m.refresh(r) for r in rejected))
    assert fake.grants["refresh_token"] == 2  # the first token, then one replacement
    await m.aclose()


async def test_invalid_grant_marks_unauthorized_with_remedy_and_no_secret() -> None:
    fake = GoogleTokenFake()
    fake.add_client(DEMO_CLIENT_ID, CANARY_SECRET)
    m = manager(fake, refresh_grant(CANARY_REFRESH, CANARY_SECRET))
    with pytest.raises(ConnectorError) as info:
        await m.token()
    err = info.value
    assert err.kind is ErrorKind.UNAUTHORIZED
    assert err.upstream_code == "invalid_grant"
    assert "storelink auth google" in err.message and "GOOGLE_REFRESH_TOKEN" in err.message
    shown = " ".join([str(err), repr(err), err.message, json.dumps(err.envelope().model_dump(mode="json"))])
    assert CANARY_REFRESH not in shown and CANARY_SECRET not in shown
    assert m.state == "unauthorized"
    # Marked: later calls fail at once, without asking the token endpoint again.
    with pytest.raises(ConnectorError) as again:
        await m.token()
    assert again.value.kind is ErrorKind.UNAUTHORIZED
    assert fake.refused["invalid_grant"] == 1
    await m.aclose()


async def test_revoked_refresh_token_is_invalid_grant() -> None:
    fake = GoogleTokenFake()
    fake.revoke(DEMO_REFRESH_TOKEN)
    m = manager(fake)
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert "Token has been expired or revoked." in info.value.message
    await m.aclose()


async def test_wrong_client_secret_is_invalid_client_without_the_secret() -> None:
    fake = GoogleTokenFake()
    m = manager(fake, refresh_grant(secret=CANARY_SECRET))
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert info.value.upstream_code == "invalid_client"
    assert CANARY_SECRET not in str(info.value)
    await m.aclose()


async def test_token_without_the_needed_scope_is_forbidden() -> None:
    fake = GoogleTokenFake()
    fake.add_refresh_token(
        "1//gsc-only", client_id=DEMO_CLIENT_ID, scopes=["https://www.googleapis.com/auth/webmasters"]
    )
    m = manager(fake, refresh_grant("1//gsc-only"))
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.FORBIDDEN
    assert "analytics.readonly" in info.value.message
    await m.aclose()


async def test_a_5xx_from_the_token_endpoint_is_retried_once() -> None:
    fake = GoogleTokenFake(faults=FaultPlan.scripted("500"))
    m = manager(fake)
    assert (await m.token()).startswith("ya29.")
    assert fake.grants["refresh_token"] == 1
    await m.aclose()


async def test_token_endpoint_down_is_unavailable_and_not_marked() -> None:
    fake = GoogleTokenFake(faults=FaultPlan.scripted("503", "503"))
    m = manager(fake)
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert m.state == "ok"
    assert (await m.token()).startswith("ya29.")  # it heals
    await m.aclose()


async def test_cached_token_is_reused_after_a_restart(tmp_path: Path) -> None:
    fake = GoogleTokenFake()
    store = EmbeddedStore(tmp_path / "storelink.db")
    first = manager(fake, cache=TokenCache(store))
    token = await first.token()
    await first.aclose()
    second = manager(fake, cache=TokenCache(store))
    assert await second.token() == token
    assert fake.grants["refresh_token"] == 1
    await second.aclose()
    files = [p for p in os.listdir(tmp_path) if p.startswith("storelink.db")]
    assert files
    for name in files:
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    store.close()
    raw = b"".join(_read(tmp_path / name) for name in os.listdir(tmp_path))
    assert DEMO_REFRESH_TOKEN.encode() not in raw and DEMO_CLIENT_SECRET.encode() not in raw


def _read(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


async def test_cached_token_near_expiry_is_not_reused() -> None:
    fake = GoogleTokenFake()
    cache = TokenCache(None)
    m = manager(fake, cache=cache)
    await cache.put(m.cache_key, CachedToken("ya29.old", WallClock(LoopClock())() + 100, ANALYTICS_READONLY))
    assert await m.token() != "ya29.old"
    await m.aclose()


def service_account_key(
    tmp_path: Path, email: str = "storelink@demo-project.iam.gserviceaccount.com"
) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    path = tmp_path / "key.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo-project",
                "private_key_id": "k1",
                "private_key": private,
                "client_email": email,
                "token_uri": TOKEN_URL,
            }
        )
    )
    return path, public


async def test_service_account_jwt_is_signed_and_accepted(tmp_path: Path) -> None:
    path, public = service_account_key(tmp_path)
    fake = GoogleTokenFake()
    fake.add_service_account("storelink@demo-project.iam.gserviceaccount.com", public)
    m = manager(fake, load_key_file(path))
    assert (await m.token()).startswith("ya29.")
    assert fake.grants[JWT_BEARER] == 1
    await m.aclose()


async def test_service_account_with_another_key_is_refused(tmp_path: Path) -> None:
    path, _ = service_account_key(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_public = service_account_key(tmp_path / "other")
    fake = GoogleTokenFake()
    fake.add_service_account("storelink@demo-project.iam.gserviceaccount.com", other_public)
    m = manager(fake, load_key_file(path))
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert "Invalid JWT Signature" in info.value.message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in info.value.message
    assert "PRIVATE KEY" not in info.value.message
    await m.aclose()


def test_authorized_user_file_reads_as_a_refresh_grant(tmp_path: Path) -> None:
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "1//r"})
    )
    grant = load_key_file(path)
    assert isinstance(grant, RefreshTokenGrant)
    assert grant.source == "GOOGLE_APPLICATION_CREDENTIALS"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot be read"),
        ("not json", "not JSON"),
        ('{"type": "external_account"}', "external_account"),
        ('{"type": "service_account", "client_email": "x"}', "private_key"),
        ('{"type": "service_account", "client_email": "x", "private_key": "garbage"}', "cannot be read"),
    ],
)
async def test_unusable_key_file_is_not_configured(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    fake = GoogleTokenFake()
    m = manager(fake, loader=lambda: load_key_file(path))
    with pytest.raises(ConnectorError) as info:
        await m.token()
    assert info.value.kind is ErrorKind.NOT_CONFIGURED
    assert words in info.value.message
    assert m.state == "not_configured"
    await m.aclose()


async def test_wall_clock_moves_with_the_loop_from_its_first_reading() -> None:
    import time

    clock = LoopClock()
    wall = WallClock(clock)
    await asyncio.sleep(500)  # before the first reading: does not count
    first = wall()
    assert abs(first - time.time()) < 5
    await asyncio.sleep(3600)
    assert wall() - first == pytest.approx(3600)
