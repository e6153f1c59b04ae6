"""Session tokens: a genuine token names its shop; each tampered claim is refused."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.session_tokens import LEEWAY_S, SessionTokens, bearer_token

KEY, SECRET = "client-id-abc", "shpss_0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0
SHOP = "north.myshopify.com"


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": KEY,
        "sub": "42",
        "exp": NOW + 60,
        "nbf": NOW - 1,
        "iat": NOW - 1,
        "jti": "jti-1",
        "sid": "sid-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(secret: str = SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    return jwt.encode(claims(**changes), secret, algorithm=algorithm)


def verifier(now: float = NOW) -> SessionTokens:
    return SessionTokens(api_key=KEY, api_secret=SECRET, wall=lambda: now)


def test_a_genuine_token_names_its_shop_and_user() -> None:
    verified = verifier().verify(token())
    assert (verified.shop, verified.user) == (SHOP, "42")


def test_within_the_leeway_a_token_just_expired_or_not_yet_valid_passes() -> None:
    assert verifier(NOW + 60 + LEEWAY_S - 1).verify(token()).shop == SHOP
    assert verifier(NOW - 1 - LEEWAY_S + 1).verify(token()).shop == SHOP


TAMPERED: dict[str, dict[str, Any]] = {
    "expired": {"exp": NOW - LEEWAY_S - 1},
    "not yet valid": {"nbf": NOW + LEEWAY_S + 1},
    "another app": {"aud": "someone-else"},
    "no aud": {"aud": None},
    "no exp": {"exp": None},
    "no nbf": {"nbf": None},
    "no dest": {"dest": None},
    "no iss": {"iss": None},
    "dest names another shop than iss": {"dest": "https://south.myshopify.com"},
    "iss names another shop than dest": {"iss": "https://south.myshopify.com/admin"},
    "dest not a shop": {"dest": "https://evil.example.com", "iss": "https://evil.example.com/admin"},
    "dest over http": {"dest": f"http://{SHOP}"},
    "iss not the admin": {"iss": f"https://{SHOP}"},
    "exp not a number": {"exp": "soon"},
}


@pytest.mark.parametrize("change", TAMPERED.values(), ids=TAMPERED.keys())
def test_each_tampered_claim_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ConnectorError) as caught:
        verifier().verify(token(**change))
    assert caught.value.kind is ErrorKind.UNAUTHORIZED and caught.value.status == 401


def test_another_secret_none_algorithm_and_garbage_are_refused() -> None:
    forged = [
        token(secret="shpss_ffffffffffffffffffffffffffffffff"),
        jwt.encode(claims(), "", algorithm="none"),
        token(secret=SECRET * 2, algorithm="HS512"),  # another algorithm (a key long enough for it)
        "not.a.jwt",
        "",
    ]
    genuine = token()
    head, body, sig = genuine.split(".")
    forged.append(f"{head}.{body}.{sig[:-2]}AA")  # a bit-flipped signature
    forged.append(f"{head}.{jwt.utils.base64url_encode(b'{}').decode()}.{sig}")  # claims swapped under the signature
    for candidate in forged:
        with pytest.raises(ConnectorError) as caught:
            verifier().verify(candidate)
        assert caught.value.kind is ErrorKind.UNAUTHORIZED
        assert SECRET not in caught.value.message and (not candidate or candidate not in caught.value.message)


def test_the_bearer_header_is_required() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    for header in (None, "", "Basic abc", "Bearer ", "abc"):
        with pytest.raises(ConnectorError):
            bearer_token(header)
