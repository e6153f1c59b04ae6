"""OAuth token managers (Google) and where access tokens are kept between processes."""

from storelink.auth.google import (
    ANALYTICS_READONLY,
    WEBMASTERS_READONLY,
    GoogleTokenManager,
    RefreshTokenGrant,
    ServiceAccountGrant,
    StaticBearer,
    google_authenticator,
    load_key_file,
)
from storelink.auth.tokens import CachedToken, TokenCache, TokenStore, WallClock, fingerprint

__all__ = [
    "ANALYTICS_READONLY",
    "WEBMASTERS_READONLY",
    "CachedToken",
    "GoogleTokenManager",
    "RefreshTokenGrant",
    "ServiceAccountGrant",
    "StaticBearer",
    "TokenCache",
    "TokenStore",
    "WallClock",
    "fingerprint",
    "google_authenticator",
    "load_key_file",
]
