"""The Shopify fake's OAuth side, over HTTP in-process: installs signed as Shopify signs them, the
three grants with their error answers, expiring tokens and refresh-token rotation (the previous
refresh token valid until its replacement is first used)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import jwt
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.fakes.shopify.oauth import ACCESS_LIFETIME_S, TOKEN_EXCHANGE
from storelink.shopify_app.oauth import query_hmac
from tests.support.clocks import ManualClock as Clock

SHOP = "acme.myshopify.com"
CLIENT_ID, SECRET = "app-client", "shpss_0123456789abcdef0123456789abcdef"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> ShopifyFake:
    return ShopifyFake(clients={CLIENT_ID: SECRET}, clock=clock, wall=clock)


@pytest.fixture
async def client(fake: ShopifyFake) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as http:
        yield http


async def install_code(client: httpx2.AsyncClient, state: str = "nonce-1") -> dict[str, str]:
    response = await client.get(
        f"https://{SHOP}/admin/oauth/authorize",
        params={
            "client_id": CLIENT_ID,
            "scope": "read_orders",
            "redirect_uri": "https://app.example/cb",
            "state": state,
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.example/cb"
    return dict(parse_qsl(location.query))


async def grant(client: httpx2.AsyncClient, **params: str) -> httpx2.Response:
    return await client.post(TOKEN_URL, json={"client_id": CLIENT_ID, "client_secret": SECRET, **params})


async def shop_name(client: httpx2.AsyncClient, token: str) -> httpx2.Response:
    return await client.post(GRAPHQL, json={"query": "{ shop { name } }"}, headers={"X-Shopify-Access-Token": token})


async def installed(client: httpx2.AsyncClient) -> dict[str, Any]:
    query = await install_code(client)
    response = await grant(client, code=query["code"], expiring="1")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_authorize_redirects_with_a_code_signed_as_shopify_signs(
    client: httpx2.AsyncClient, clock: Clock
) -> None:
    query = await install_code(client, state="abc")
    assert set(query) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert (query["shop"], query["state"], query["timestamp"]) == (SHOP, "abc", str(int(clock.now)))
    assert query["hmac"] == query_hmac(query.items(), SECRET)
    assert query["hmac"] != query_hmac(query.items(), "another-secret")


async def test_authorize_refuses_an_unknown_client(client: httpx2.AsyncClient) -> None:
    response = await client.get(
        f"https://{SHOP}/admin/oauth/authorize", params={"client_id": "nope", "redirect_uri": "https://app.example/cb"}
    )
    assert response.status_code == 400
    assert "client_id" in response.text


async def test_code_grant_gives_an_expiring_token_with_a_refresh_token(client: httpx2.AsyncClient) -> None:
    body = await installed(client)
    assert body["expires_in"] == ACCESS_LIFETIME_S == 3600
    assert body["refresh_token"].startswith("shprt_") and body["refresh_token_expires_in"] > ACCESS_LIFETIME_S
    assert body["scope"] == "read_orders"
    assert (await shop_name(client, body["access_token"])).status_code == 200


async def test_a_code_is_used_once(client: httpx2.AsyncClient) -> None:
    code = (await install_code(client))["code"]
    assert (await grant(client, code=code, expiring="1")).status_code == 200
    again = await grant(client, code=code, expiring="1")
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_without_expiring_the_offline_token_does_not_expire(client: httpx2.AsyncClient, clock: Clock) -> None:
    code = (await install_code(client))["code"]
    body = (await grant(client, code=code)).json()
    assert set(body) == {"access_token", "scope"}
    clock.now += 10 * 86400
    assert (await shop_name(client, body["access_token"])).status_code == 200


async def test_a_wrong_client_secret_is_invalid_client(client: httpx2.AsyncClient) -> None:
    code = (await install_code(client))["code"]
    response = await client.post(TOKEN_URL, json={"client_id": CLIENT_ID, "client_secret": "wrong", "code": code})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client" and response.json()["error_description"]


async def test_an_unknown_grant_type_is_refused(client: httpx2.AsyncClient) -> None:
    response = await grant(client, grant_type="password")
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


async def test_an_expired_access_token_is_the_real_401(client: httpx2.AsyncClient, clock: Clock) -> None:
    body = await installed(client)
    clock.now += ACCESS_LIFETIME_S
    response = await shop_name(client, body["access_token"])
    assert response.status_code == 401
    assert response.json() == {"errors": INVALID_TOKEN}


async def test_refresh_rotates_both_tokens(client: httpx2.AsyncClient, clock: Clock) -> None:
    first = await installed(client)
    clock.now += ACCESS_LIFETIME_S - 60
    second = (await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])).json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 3600
    clock.now += 120  # the first access token has expired; the new one has not
    assert (await shop_name(client, first["access_token"])).status_code == 401
    assert (await shop_name(client, second["access_token"])).status_code == 200


async def test_the_previous_refresh_token_works_until_its_replacement_is_used(
    client: httpx2.AsyncClient, fake: ShopifyFake
) -> None:
    first = await installed(client)
    lost = (await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])).json()
    # The app never saw `lost`: it refreshes again with the token it holds, and that works.
    retry = await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert retry.status_code == 200
    kept = retry.json()
    # The unused replacement is cancelled by that second refresh.
    assert (await shop_name(client, lost["access_token"])).status_code == 401
    lost_refresh = await grant(client, grant_type="refresh_token", refresh_token=lost["refresh_token"])
    assert lost_refresh.json()["error"] == "invalid_grant"
    # Once the replacement is used, the previous refresh token is spent.
    assert (await shop_name(client, kept["access_token"])).status_code == 200
    spent = await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")
    assert fake.oauth.refresh_tokens(SHOP) == [kept["refresh_token"]]


async def test_using_the_new_refresh_token_also_retires_the_previous(client: httpx2.AsyncClient) -> None:
    first = await installed(client)
    second = (await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])).json()
    assert (await grant(client, grant_type="refresh_token", refresh_token=second["refresh_token"])).status_code == 200
    spent = await grant(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert spent.json()["error"] == "invalid_grant"


def session_token(clock: Clock, *, dest: str = f"https://{SHOP}", secret: str = SECRET, **claims: Any) -> str:
    payload = {
        "iss": f"{dest}/admin",
        "dest": dest,
        "aud": CLIENT_ID,
        "sub": "42",
        "exp": int(clock.now) + 60,
        "nbf": int(clock.now) - 1,
        "iat": int(clock.now) - 1,
        "jti": "j",
        "sid": "s",
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def exchange_params(token: str) -> dict[str, str]:
    return {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
        "expiring": "1",
    }


async def test_token_exchange_gives_an_expiring_offline_token(client: httpx2.AsyncClient, clock: Clock) -> None:
    response = await grant(client, **exchange_params(session_token(clock)))
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600 and body["refresh_token"]
    assert (await shop_name(client, body["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["forged", "other shop", "expired", "other app"],
)
async def test_token_exchange_refuses_a_bad_session_token(client: httpx2.AsyncClient, clock: Clock, case: str) -> None:
    token = {
        "forged": session_token(clock, secret="shpss_not-the-secret-0123456789abcdef"),
        "other shop": session_token(clock, dest="https://other.myshopify.com"),
        "expired": session_token(clock, exp=int(clock.now) - 30),
        "other app": session_token(clock, aud="another-client"),
    }[case]
    response = await grant(client, **exchange_params(token))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_subject_token")


async def test_token_exchange_wants_an_id_token(client: httpx2.AsyncClient, clock: Clock) -> None:
    params = exchange_params(session_token(clock)) | {"subject_token_type": "urn:x"}
    response = await grant(client, **params)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_an_uninstall_at_shopify_revokes_the_shops_tokens(client: httpx2.AsyncClient, fake: ShopifyFake) -> None:
    body = await installed(client)
    fake.oauth.revoke_shop(SHOP)
    assert (await shop_name(client, body["access_token"])).status_code == 401
    refused = await grant(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"
    assert fake.oauth.refresh_tokens(SHOP) == []
