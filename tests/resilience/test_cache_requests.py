"""The response cache keys every request, whatever its body: redirects and streamed bodies included.

httpx2 builds a redirect's request around the original request's *stream*, unread; keying it by
``request.content`` raised ``httpx2.RequestNotRead`` and aborted every redirected read that went
through a cache (issue 14, finding 4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

from storelink.clock import LoopClock
from storelink.observability.metrics import Metrics
from storelink.resilience.cache import ResponseCache, cache_key
from storelink.resilience.classify import HttpClassifier, Verdict
from storelink.resilience.pipeline import REPORT_KEY, CallReport
from storelink.resilience.policy import build_pipeline
from storelink.settings import ConnectorKnobs
from storelink.store import EmbeddedStore


class _RedirectsAreAnswers(HttpClassifier):
    def classify_status(self, response: httpx2.Response, body: object) -> Verdict:
        if 300 <= response.status_code < 400 and response.status_code != 304:
            return Verdict(status=response.status_code)
        return super().classify_status(response, body)


def _site(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/old":
        return httpx2.Response(301, headers={"Location": "/new"})
    return httpx2.Response(200, text=f"page at {request.url.path}", headers={"ETag": '"v1"'})


def _client(cache: ResponseCache, seen: list[str]) -> httpx2.AsyncClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.path)
        return _site(request)

    clock = LoopClock()
    transport = build_pipeline(
        httpx2.MockTransport(handler),
        connector="site",
        knobs=ConnectorKnobs(cache_ttl=60.0, rate_limit=1000.0, rate_burst=1000.0),
        classifier=_RedirectsAreAnswers(title="The site", connector="site", credential_hint="STORELINK_SITE_URL"),
        clock=clock,
        metrics=Metrics(),
        cache=cache,
    )
    return httpx2.AsyncClient(transport=transport, base_url="https://shop.example", follow_redirects=True)


async def test_a_followed_redirect_goes_through_the_cache() -> None:
    cache = ResponseCache(EmbeddedStore(None))
    seen: list[str] = []
    async with _client(cache, seen) as client:
        first = await client.get("/old")
        second = await client.get("/old")
        direct = await client.get("/new")
    assert first.status_code == second.status_code == 200
    assert str(first.url) == str(second.url) == "https://shop.example/new"
    assert first.text == second.text == "page at /new"
    # The 301 is not cached (only 2xx are); its target is, under the same key as a direct GET.
    assert seen == ["/old", "/new", "/old"]
    report: CallReport = direct.extensions[REPORT_KEY]
    assert report.source == "cache-fresh"


def test_a_redirect_request_keys_like_the_same_request_made_directly() -> None:
    original = httpx2.Request("GET", "https://shop.example/old")
    # What httpx2's redirect handling builds: a new request around the original's stream, unread.
    redirected = httpx2.Request("GET", "https://shop.example/new", stream=original.stream)
    direct = httpx2.Request("GET", "https://shop.example/new")
    key = cache_key(connector="site", partition="", request=redirected)
    assert key == cache_key(connector="site", partition="", request=direct)


async def test_a_streamed_body_is_keyed_without_reading_it_and_never_shared() -> None:
    async def upload() -> AsyncIterator[bytes]:
        yield b"chunk"

    def streamed() -> httpx2.Request:
        return httpx2.Request("POST", "https://shop.example/search", content=upload())

    cache = ResponseCache(EmbeddedStore(None))
    one, two = streamed(), streamed()
    first = cache_key(connector="site", partition="", request=one)
    second = cache_key(connector="site", partition="", request=two)
    assert first != second  # two bodies we could not read are never taken for the same request
    cache.put(first, connector="site", response=httpx2.Response(200, content=b"x"), ttl_s=60.0)
    assert cache.get(first) is None  # and a response to one is not kept to answer another
    chunks = [chunk async for chunk in one.stream]  # type: ignore[union-attr]
    assert chunks == [b"chunk"]  # the body was left for the transport to send
