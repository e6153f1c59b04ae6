"""The install's signatures: the query hmac (Shopify's published examples), its freshness, and the
state cookie that binds a callback to the browser and the shop that began the install."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.oauth import MAX_AGE_S, StateCookie, authorize_url, query_hmac, verify_query

# Shopify's documented examples (secret "hush"): see docs/shopify-app.md, sources.
EXAMPLE = [
    ("code", "0907a61c0c8d55e99db179b68161bc00"),
    ("shop", "some-shop.myshopify.com"),
    ("timestamp", "1337178173"),
]
SECRET = "shpss_0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def test_the_hmac_of_shopifys_examples() -> None:
    assert query_hmac(EXAMPLE, "hush") == "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
    with_state = [*EXAMPLE, ("state", "0.6784241404160823")]
    assert query_hmac(with_state, "hush") == "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"


def test_the_order_of_parameters_and_the_hmac_itself_do_not_count() -> None:
    signed = [*reversed(EXAMPLE), ("hmac", "anything")]
    assert query_hmac(signed, "hush") == query_hmac(EXAMPLE, "hush")


def test_ampersands_and_percents_are_escaped_so_values_cannot_smuggle_parameters() -> None:
    assert query_hmac([("a", "1&b=2")], "k") != query_hmac([("a", "1"), ("b", "2")], "k")


def signed(now: float = NOW, **params: str) -> list[tuple[str, str]]:
    pairs = [("shop", "acme.myshopify.com"), ("timestamp", str(int(now))), *params.items()]
    return [*pairs, ("hmac", query_hmac(pairs, SECRET))]


def test_a_signed_recent_query_passes() -> None:
    verify_query(signed(code="c"), SECRET, now=NOW + 10)


@pytest.mark.parametrize(
    "tamper",
    ["value", "added", "removed hmac", "other secret", "two hmacs", "old", "future", "no timestamp"],
)
def test_a_tampered_or_stale_query_is_refused(tamper: str) -> None:
    pairs = signed(code="c")
    if tamper == "value":
        pairs = [(k, "evil.myshopify.com" if k == "shop" else v) for k, v in pairs]
    elif tamper == "added":
        pairs = [*pairs, ("extra", "1")]
    elif tamper == "removed hmac":
        pairs = [p for p in pairs if p[0] != "hmac"]
    elif tamper == "other secret":
        pairs = [(k, query_hmac(pairs, "other") if k == "hmac" else v) for k, v in pairs]
    elif tamper == "two hmacs":
        pairs = [*pairs, pairs[-1]]
    elif tamper == "old":
        pairs = signed(NOW - MAX_AGE_S - 1, code="c")
    elif tamper == "future":
        pairs = signed(NOW + MAX_AGE_S + 1, code="c")
    else:
        unstamped = [("shop", "acme.myshopify.com"), ("code", "c")]
        pairs = [*unstamped, ("hmac", query_hmac(unstamped, SECRET))]
    with pytest.raises(ConnectorError) as caught:
        verify_query(pairs, SECRET, now=NOW)
    assert caught.value.kind is ErrorKind.UNAUTHORIZED


def test_the_state_cookie_binds_nonce_and_shop() -> None:
    state = StateCookie.issue("acme.myshopify.com", SECRET, now=NOW)
    StateCookie.check(state.value, state=state.nonce, shop="acme.myshopify.com", secret=SECRET, now=NOW + 599)
    other = StateCookie.issue("acme.myshopify.com", SECRET, now=NOW)
    assert other.nonce != state.nonce


@pytest.mark.parametrize("case", ["no cookie", "other nonce", "other shop", "expired", "forged", "garbage"])
def test_a_state_that_does_not_match_is_forbidden(case: str) -> None:
    state = StateCookie.issue("acme.myshopify.com", SECRET, now=NOW)
    cookie: str | None = state.value
    nonce, shop, now = state.nonce, "acme.myshopify.com", NOW
    if case == "no cookie":
        cookie = None
    elif case == "other nonce":
        nonce = StateCookie.issue("acme.myshopify.com", SECRET, now=NOW).nonce
    elif case == "other shop":
        shop = "evil.myshopify.com"
    elif case == "expired":
        now = NOW + 601
    elif case == "forged":
        cookie = StateCookie.issue("acme.myshopify.com", "shpss_another-secret-0123456789abcdef", now=NOW).value
    else:
        cookie = "not.a.jwt"
    with pytest.raises(ConnectorError) as caught:
        StateCookie.check(cookie, state=nonce, shop=shop, secret=SECRET, now=now)
    assert caught.value.kind is ErrorKind.FORBIDDEN


def test_the_authorize_url_asks_for_offline_access_on_the_shop() -> None:
    url = urlsplit(
        authorize_url(
            shop="acme.myshopify.com",
            client_id="cid",
            scopes="read_orders,read_products",
            redirect_uri="https://app.example/shopify/callback",
            state="n",
        )
    )
    assert (url.scheme, url.netloc, url.path) == ("https", "acme.myshopify.com", "/admin/oauth/authorize")
    assert dict(parse_qsl(url.query)) == {
        "client_id": "cid",
        "scope": "read_orders,read_products",
        "redirect_uri": "https://app.example/shopify/callback",
        "state": "n",
    }
