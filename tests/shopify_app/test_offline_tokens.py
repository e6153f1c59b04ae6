"""An installed shop's expiring offline token: refreshed ahead of expiry once however many calls
find it stale, after a 401 once, and recovered when a refresh answer is lost (the fake keeps the
previous refresh token valid until its replacement is used, as Shopify does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx2
import pytest
from pydantic import SecretStr

from storelink.database.keyring import Keyring
from storelink.database.tokens import StoredToken
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.shopify_app.offline_tokens import REFRESH_MARGIN_S, OfflineTokenAuth, OfflineTokens
from storelink.shopify_app.token_store import MemoryRecords
from tests.shopify_app.app_support import API_KEY, API_SECRET, SECRET_KEY, Clock, fake_for, install_grant

SHOP = "acme.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"


class LosesRefreshAnswers(httpx2.AsyncBaseTransport):
    """The wire to the fake; the first ``lose`` refresh answers are lost after the fake acted on them."""

    def __init__(self, fake: ShopifyFake, lose: int) -> None:
        self.inner = InProcessTransport(fake.app)
        self.lose = lose

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if b'"refresh_token"' in request.content and self.lose > 0:
            self.lose -= 1
            await response.aread()  # Shopify did the refresh...
            raise httpx2.ReadError("connection reset", request=request)  # ...and the answer never came
        return response


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> ShopifyFake:
    return fake_for(clock)


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords(Keyring(SecretStr(SECRET_KEY)))


@pytest.fixture
async def tokens(fake: ShopifyFake, records: MemoryRecords, clock: Clock) -> OfflineTokens:
    grant = await install_grant(fake, SHOP)
    await records.write("acme", SHOP, grant.stored(clock()))
    return OfflineTokens(
        store="acme", shop=SHOP, records=records, client_id=API_KEY, client_secret=SecretStr(API_SECRET), wall=clock
    )


@pytest.fixture
async def wire(fake: ShopifyFake) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
        yield client


async def shop_call(client: httpx2.AsyncClient, auth: OfflineTokenAuth) -> httpx2.Response:
    request = client.build_request("POST", GRAPHQL, json={"query": "{ shop { name } }"})
    await auth.apply(request)
    return await client.send(request)


async def test_the_token_is_used_until_shortly_before_it_expires(
    tokens: OfflineTokens, wire: httpx2.AsyncClient, fake: ShopifyFake, clock: Clock
) -> None:
    auth = tokens.auth(client=wire)
    first = await auth.token()
    clock.now += 3600 - REFRESH_MARGIN_S - 1
    assert await auth.token() == first
    clock.now += 2  # inside the margin: refreshed ahead of expiry
    second = await auth.token()
    assert second != first and fake.oauth.counts.refreshes == 1
    assert (await shop_call(wire, auth)).status_code == 200


async def test_50_concurrent_calls_at_expiry_make_one_refresh(
    tokens: OfflineTokens, wire: httpx2.AsyncClient, fake: ShopifyFake, clock: Clock, records: MemoryRecords
) -> None:
    auth = tokens.auth(client=wire)
    await auth.token()
    clock.now += 3600
    answers = await asyncio.gather(*(shop_call(wire, auth) for _ in range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    assert fake.oauth.counts.refreshes == 1
    stored = await records.read("acme", SHOP)
    assert stored is not None and stored.access_token == await auth.token()


async def test_a_lost_refresh_answer_is_recovered_with_the_previous_refresh_token(
    tokens: OfflineTokens, fake: ShopifyFake, clock: Clock, records: MemoryRecords
) -> None:
    before = await records.read("acme", SHOP)
    async with httpx2.AsyncClient(transport=LosesRefreshAnswers(fake, lose=1)) as client:
        auth = tokens.auth(client=client)
        clock.now += 3600
        answer = await shop_call(client, auth)
    assert answer.status_code == 200
    # Shopify refreshed twice (the answer of the first was lost); the second answer is what is kept.
    assert fake.oauth.counts.refreshes == 2 and auth.refreshes == 2
    after = await records.read("acme", SHOP)
    assert before is not None and after is not None
    assert after.refresh_token != before.refresh_token
    assert fake.oauth.refresh_tokens(SHOP) == [after.refresh_token]  # the lost pair was cancelled


async def test_refresh_answers_lost_every_time_end_in_unavailable(
    tokens: OfflineTokens, fake: ShopifyFake, clock: Clock, records: MemoryRecords
) -> None:
    before = await records.read("acme", SHOP)
    async with httpx2.AsyncClient(transport=LosesRefreshAnswers(fake, lose=99)) as client:
        auth = tokens.auth(client=client)
        clock.now += 3600
        with pytest.raises(ConnectorError) as caught:
            await auth.token()
    assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.retryable
    assert await records.read("acme", SHOP) == before  # the refresh token kept is still the valid one
    assert before is not None and before.refresh_token in fake.oauth.refresh_tokens(SHOP)


async def test_a_401_refreshes_once_for_every_call_it_rejected(
    tokens: OfflineTokens, wire: httpx2.AsyncClient, fake: ShopifyFake
) -> None:
    auth = tokens.auth(client=wire)
    stale = await auth.token()
    fake.revoke(stale)  # Shopify stopped accepting it before its time
    rejected = [await shop_call(wire, auth) for _ in range(3)]
    assert {r.status_code for r in rejected} == {401}
    assert all(await asyncio.gather(*(auth.refresh(r.request) for r in rejected)))
    assert fake.oauth.counts.refreshes == 1
    assert (await shop_call(wire, auth)).status_code == 200


async def test_the_header_goes_only_to_the_shop(tokens: OfflineTokens, wire: httpx2.AsyncClient) -> None:
    auth = tokens.auth(client=wire)
    elsewhere = wire.build_request("GET", "https://storage.googleapis.com/bulk.jsonl")
    await auth.apply(elsewhere)
    assert "X-Shopify-Access-Token" not in elsewhere.headers


async def test_an_uninstalled_shop_has_no_token(
    tokens: OfflineTokens, wire: httpx2.AsyncClient, records: MemoryRecords
) -> None:
    await records.forget("acme")
    with pytest.raises(ConnectorError) as caught:
        await tokens.auth(client=wire).token()
    assert caught.value.kind is ErrorKind.DISABLED  # so on a replica that did not handle the uninstall too
    assert "/shopify/install?shop=acme.myshopify.com" in caught.value.message


class FailsOneWrite(MemoryRecords):
    """A store that does not answer for one write (the database went away for a moment)."""

    def __init__(self, inner: MemoryRecords) -> None:
        super().__init__(inner.keyring)
        self._rows = inner._rows
        self.failing = True

    async def write(self, store: str, shop: str, token: StoredToken) -> None:
        if self.failing:
            self.failing = False
            raise ConnectorError(ErrorKind.UNAVAILABLE, "PostgreSQL did not answer.", retryable=True)
        await super().write(store, shop, token)


async def test_a_refresh_answer_not_stored_is_recovered_at_the_next_call(
    tokens: OfflineTokens, wire: httpx2.AsyncClient, fake: ShopifyFake, clock: Clock, records: MemoryRecords
) -> None:
    flaky = FailsOneWrite(records)
    auth = replace(tokens, records=flaky).auth(client=wire)
    clock.now += 3600
    with pytest.raises(ConnectorError) as caught:
        await auth.token()
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    answer = await shop_call(wire, auth)  # the stored refresh token is the previous one, still valid
    assert answer.status_code == 200
    assert fake.oauth.counts.refreshes == 2
    stored = await records.read("acme", SHOP)
    assert stored is not None and fake.oauth.refresh_tokens(SHOP) == [stored.refresh_token]
