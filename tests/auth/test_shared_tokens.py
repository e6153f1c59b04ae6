"""Google and Zoho access tokens shared by replicas through the real Redis: however many replicas
find the token missing or refused at once, one exchange reaches the token endpoint.

Each replica is its own token manager with its own Redis connection, lease and memory, as separate
processes would be; they share only Redis and the fake token endpoint. No looptime here: Redis
answers on a real socket, in real time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx2
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from storelink.auth.google import ANALYTICS_READONLY, GoogleTokenManager, RefreshTokenGrant
from storelink.auth.tokens import TokenCache, WallClock
from storelink.clock import LoopClock
from storelink.connectors.zoho.auth import MemoryTokenCache, ZohoOAuth
from storelink.fakes.base import InProcessTransport
from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN, GoogleTokenFake
from storelink.fakes.zoho import ZohoFake
from storelink.resilience.redis_health import RedisHealth
from storelink.resilience.redis_locks import RedisLocks, SharedTokens
from storelink.settings import ZohoKnobs
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, redis_answers

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

REPLICAS = 3
CALLERS = 20  # per replica


@pytest.fixture
async def tokens() -> AsyncIterator[list[SharedTokens]]:
    """One SharedTokens per replica, each over its own connection, under a prefix of this test's."""
    prefix = f"storelink-test:{uuid.uuid4().hex[:12]}:"
    clients = [aioredis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=0.5) for _ in range(REPLICAS)]
    shared = []
    for client in clients:
        health = RedisHealth(replicas=REPLICAS)
        locks = RedisLocks(client, health=health, prefix=prefix)
        shared.append(SharedTokens(client, health=health, locks=locks, prefix=prefix))
    yield shared
    for client in clients:
        await client.aclose()
    drop_prefix(SHARED_REDIS_URL, prefix)


async def all_refused(replicas: Sequence[GoogleTokenManager] | Sequence[ZohoOAuth], url: str) -> None:
    """Every replica sends a request with its token, and the upstream answers each with a 401."""
    sent = []
    for r in replicas:
        request = httpx2.Request("GET", url)
        await r.apply(request)
        sent.append((r, request))
    await asyncio.gather(*(r.refresh(request) for r, request in sent))


def google_replica(fake: GoogleTokenFake, shared: SharedTokens | None) -> GoogleTokenManager:
    clock = LoopClock()
    grant = RefreshTokenGrant(DEMO_CLIENT_ID, SecretStr(DEMO_CLIENT_SECRET), SecretStr(DEMO_REFRESH_TOKEN))
    return GoogleTokenManager(
        grant_loader=lambda: grant,
        scopes=(ANALYTICS_READONLY,),
        accepted_scopes=(ANALYTICS_READONLY,),
        token_url="https://oauth2.googleapis.com/token",
        client=httpx2.AsyncClient(transport=InProcessTransport(fake.app)),
        clock=clock,
        wall=WallClock(clock),
        cache=TokenCache(None),  # nothing shared through a database file: only Redis
        connector="ga4",
        api_host="analyticsdata.googleapis.com",
        shared=shared,
    )


async def test_google_replicas_exchange_once_for_all_their_callers(tokens: list[SharedTokens]) -> None:
    fake = GoogleTokenFake()
    replicas = [google_replica(fake, shared) for shared in tokens]
    got = await asyncio.gather(*(r.token() for r in replicas for _ in range(CALLERS)))
    assert fake.grants["refresh_token"] == 1
    assert len(set(got)) == 1
    assert sum(r.exchanges for r in replicas) == 1
    for r in replicas:
        await r.aclose()


async def test_a_token_refused_on_one_replica_is_replaced_once_for_all(tokens: list[SharedTokens]) -> None:
    """Upstream revokes the token: every replica sees a 401 for it; one exchange replaces it and the
    others pick the replacement up from Redis instead of exchanging again."""
    fake = GoogleTokenFake()
    replicas = [google_replica(fake, shared) for shared in tokens]
    first = {await r.token() for r in replicas}
    assert len(first) == 1 and fake.grants["refresh_token"] == 1
    await all_refused(replicas, "https://analyticsdata.googleapis.com/v1beta/x")
    after = {await r.token() for r in replicas}
    assert fake.grants["refresh_token"] == 2
    assert len(after) == 1 and after.isdisjoint(first)
    for r in replicas:
        await r.aclose()


async def test_without_redis_each_replica_exchanges_for_itself() -> None:
    """The contrast that shows what sharing buys: three managers, no Redis, three exchanges."""
    fake = GoogleTokenFake()
    replicas = [google_replica(fake, None) for _ in range(REPLICAS)]
    await asyncio.gather(*(r.token() for r in replicas for _ in range(CALLERS)))
    assert fake.grants["refresh_token"] == REPLICAS
    for r in replicas:
        await r.aclose()


async def test_zoho_replicas_request_one_token_for_all_their_callers(tokens: list[SharedTokens]) -> None:
    client_id, secret, refresh = "1000.SHAREDTEST000000000000000000", "zoho-shared-secret-1a2b", "1000.shared.3c4d5e"
    fake = ZohoFake(client_id=client_id, client_secret=secret, refresh_token=refresh)
    http = httpx2.AsyncClient(transport=InProcessTransport(fake.app))
    knobs = ZohoKnobs()
    replicas = [
        ZohoOAuth(
            client_id=client_id,
            client_secret=SecretStr(secret),
            refresh_token=SecretStr(refresh),
            accounts_url="https://accounts.zoho.com",
            api_host="mail.zoho.com",
            client=http,
            cache=MemoryTokenCache(),  # each replica its own: only Redis is shared
            dc="com",
            shared=shared,
            attempt_timeout_s=knobs.timeout,
            connect_timeout_s=knobs.connect_timeout,
            deadline_s=knobs.deadline,
        )
        for shared in tokens
    ]
    got = await asyncio.gather(*(r.token() for r in replicas for _ in range(CALLERS)))
    assert fake.token_requests == 1
    assert len(set(got)) == 1
    # Zoho stops honouring it: each replica's 401 leads to one replacement between them.
    await all_refused(replicas, "https://mail.zoho.com/api/accounts")
    assert fake.token_requests == 2
    assert len({await r.token() for r in replicas}) == 1
    await http.aclose()
