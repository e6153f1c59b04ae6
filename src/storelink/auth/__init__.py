"""OAuth token managers and the token cache (Google now; Zoho later)."""

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
from storelink.auth.tokens import CachedToken, TokenCache, WallClock, fingerprint

__all__ = [
    "ANALYTICS_READONLY",
    "WEBMASTERS_READONLY",
    "CachedToken",
    "GoogleTokenManager",
    "RefreshTokenGrant",
    "ServiceAccountGrant",
    "StaticBearer",
    "TokenCache",
    "WallClock",
    "fingerprint",
    "google_authenticator",
    "load_key_file",
]
