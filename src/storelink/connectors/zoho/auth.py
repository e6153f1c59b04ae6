"""Zoho OAuth: the refresh-token flow, within Zoho's limits (api-facts.md §5.2).

* Access tokens live an hour. One is kept in memory and in the embedded store (``oauth_tokens``),
  so a new process (every ``storelink call``) reuses it instead of minting another; it is
  refreshed :data:`REFRESH_MARGIN_S` before it expires.
* One refresh at a time: however many calls find the token stale or see a 401 at once, one
  request goes to the accounts server (a lock, re-checked inside, plus a look at the store in
  case another process refreshed).
* Zoho allows 10 token requests per 10 minutes per refresh token and then blocks it for the rest
  of the window. Every token request is recorded (``zoho_token_requests``) before it is sent, and
  storelink stops at :data:`LOCAL_CAP` per window (leaving room for other clients of the same
  token), answering ``rate_limited`` with the wait. An ``Access Denied`` from Zoho blocks further
  requests for the window.
* Zoho answers a bad or revoked refresh token with HTTP **200** ``{"error":"invalid_code"}``: that
  is ``unauthorized``, and the message names the data centre, since a token minted in another
  data centre fails exactly this way.

The store holds the access token (the database file is private, mode 0600) and a hash of the
refresh-token identity, never the refresh token or the client secret. Credentials travel in the
form body, never in a URL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx2
from pydantic import SecretStr

from storelink.auth.tokens import CachedToken as SharedToken
from storelink.auth.tokens import TokenCache as SharedTokenCache
from storelink.auth.tokens import fingerprint
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience import redis_locks
from storelink.store import EmbeddedStore

__all__ = [
    "LOCAL_CAP",
    "MAIL_SCOPES",
    "REFRESH_MARGIN_S",
    "CachedToken",
    "GrantResult",
    "MemoryTokenCache",
    "StoreTokenCache",
    "TokenCache",
    "ZohoOAuth",
    "authorization_url",
    "exchange_grant_code",
]

HEADER = "Authorization"
PREFIX = "Zoho-oauthtoken "
TOKEN_PATH = "/oauth/v2/token"  # noqa: S105  (a path, not a password)
REFRESH_MARGIN_S = 300.0
WINDOW_S = 600.0
ZOHO_CAP = 10  # token requests per refresh token per window, then blocked [DOC token-limits]
LOCAL_CAP = 8  # storelink's share: room for `storelink auth zoho`, another machine, a retry
DEFAULT_EXPIRES_S = 3600.0
# What storelink's operations need: read accounts, folders and messages; send (CREATE) mail.
MAIL_SCOPES = (
    "ZohoMail.accounts.READ",
    "ZohoMail.folders.READ",
    "ZohoMail.messages.READ",
    "ZohoMail.messages.CREATE",
)


@dataclass(frozen=True, slots=True)
class CachedToken:
    access_token: str
    expires_at: float  # wall clock: it outlives the process


# -- where tokens and token requests are remembered ------------------------------------------------
class TokenCache(Protocol):
    def load(self, identity: str) -> CachedToken | None: ...
    def save(self, identity: str, token: CachedToken) -> None: ...
    def drop(self, identity: str, access_token: str) -> None: ...
    def requests_since(self, identity: str, since: float) -> list[float]: ...
    def record_request(self, identity: str, at: float) -> None: ...
    def blocked_until(self, identity: str) -> float: ...
    def block(self, identity: str, until: float) -> None: ...


class MemoryTokenCache:
    """For mock mode, where a token is only good for this process's fake anyway."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._requests: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}

    def load(self, identity: str) -> CachedToken | None:
        return self._tokens.get(identity)

    def save(self, identity: str, token: CachedToken) -> None:
        self._tokens[identity] = token

    def drop(self, identity: str, access_token: str) -> None:
        found = self._tokens.get(identity)
        if found is not None and found.access_token == access_token:
            del self._tokens[identity]

    def requests_since(self, identity: str, since: float) -> list[float]:
        return [t for t in self._requests.get(identity, []) if t >= since]

    def record_request(self, identity: str, at: float) -> None:
        kept = self.requests_since(identity, at - WINDOW_S)
        self._requests[identity] = [*kept, at]

    def blocked_until(self, identity: str) -> float:
        return self._blocked.get(identity, 0.0)

    def block(self, identity: str, until: float) -> None:
        self._blocked[identity] = until


class StoreTokenCache:
    """Tokens and token requests in the embedded store, shared by every process on the machine.

    The access token lives in the shared ``oauth_tokens`` table (:mod:`storelink.auth.tokens`,
    which keeps the database files private); the request log and Zoho's blocks are Zoho's own."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.tokens = SharedTokenCache(store, provider="zoho")
        self.db = store.db
        self.db.execute("CREATE TABLE IF NOT EXISTS zoho_token_requests (identity TEXT NOT NULL, at REAL NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS zoho_token_requests_at ON zoho_token_requests (identity, at)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS zoho_token_blocks (identity TEXT PRIMARY KEY, blocked_until REAL NOT NULL)"
        )

    def load(self, identity: str) -> CachedToken | None:
        found = self.tokens.get(identity)
        return CachedToken(found.access_token, found.expires_at) if found else None

    def save(self, identity: str, token: CachedToken) -> None:
        self.tokens.put(identity, SharedToken(token.access_token, token.expires_at, scope=""))

    def drop(self, identity: str, access_token: str) -> None:
        found = self.tokens.get(identity)
        if found is not None and found.access_token == access_token:
            self.tokens.delete(identity)

    def requests_since(self, identity: str, since: float) -> list[float]:
        rows = self.db.execute(
            "SELECT at FROM zoho_token_requests WHERE identity = ? AND at >= ? ORDER BY at", (identity, since)
        ).fetchall()
        return [float(r[0]) for r in rows]

    def record_request(self, identity: str, at: float) -> None:
        self.db.execute("DELETE FROM zoho_token_requests WHERE identity = ? AND at < ?", (identity, at - WINDOW_S))
        self.db.execute("INSERT INTO zoho_token_requests (identity, at) VALUES (?, ?)", (identity, at))

    def blocked_until(self, identity: str) -> float:
        row = self.db.execute("SELECT blocked_until FROM zoho_token_blocks WHERE identity = ?", (identity,)).fetchone()
        return float(row[0]) if row else 0.0

    def block(self, identity: str, until: float) -> None:
        self.db.execute(
            "INSERT INTO zoho_token_blocks (identity, blocked_until) VALUES (?, ?) "
            "ON CONFLICT (identity) DO UPDATE SET blocked_until = excluded.blocked_until",
            (identity, until),
        )


# -- the authenticator --------------------------------------------------------------------------------
class ZohoOAuth:
    """Puts ``Authorization: Zoho-oauthtoken …`` on requests to the Mail host, and nowhere else."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        accounts_url: str,
        api_host: str,
        client: httpx2.AsyncClient,
        cache: TokenCache,
        dc: str,
        wall: Callable[[], float] = time.time,
        shared: redis_locks.SharedTokens | None = None,
    ) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._refresh_token = refresh_token
        self.accounts_url = accounts_url.rstrip("/")
        self.api_host = api_host
        self._client = client
        self.cache = cache
        self.dc = dc
        self.wall = wall
        self.identity = fingerprint("zoho", self.accounts_url, client_id, refresh_token.get_secret_value())
        self._current: CachedToken | None = None
        self._lock = asyncio.Lock()
        self._shared = shared  # replicas: one token request across all of them (issue 10)
        self.token_requests = 0  # by this instance

    def _fresh(self, token: CachedToken | None) -> bool:
        return token is not None and self.wall() < token.expires_at - REFRESH_MARGIN_S

    async def token(self) -> str:
        current = self._current
        if current is not None and self._fresh(current):
            return current.access_token
        async with self._lock:
            if not self._fresh(self._current):  # another caller may have refreshed while we waited
                stored = self.cache.load(self.identity)  # … or another process
                self._current = stored if self._fresh(stored) else await self._obtain(reject=None)
        assert self._current is not None
        return self._current.access_token

    async def apply(self, request: httpx2.Request) -> None:
        if request.url.host == self.api_host:
            request.headers[HEADER] = PREFIX + await self.token()

    async def refresh(self, rejected: httpx2.Request) -> bool:
        sent = rejected.headers.get(HEADER, "").removeprefix(PREFIX)
        async with self._lock:
            current = self._current
            if current is not None and current.access_token != sent and self._fresh(current):
                return True  # replaced since that request was sent
            stored = self.cache.load(self.identity)
            if stored is not None and stored.access_token != sent and self._fresh(stored):
                self._current = stored
                return True
            if sent:
                self.cache.drop(self.identity, sent)
            self._current = await self._obtain(reject=sent or None)
        return True

    # -- the token request ------------------------------------------------------------------------
    def _error(self, kind: ErrorKind, message: str, **extra: Any) -> ConnectorError:
        return ConnectorError(kind, message, retryable=False, **extra)

    async def _obtain(self, *, reject: str | None) -> CachedToken:
        """A new token: the replicas' shared one when usable (not ``reject``, the token a 401
        refused), else one token request made under the shared lease. Replicas on other machines
        keep their own count of token requests, so sharing is what keeps all of them under Zoho's cap."""
        if self._shared is None:
            return await self._request_token()

        async def exchange() -> redis_locks.SharedToken:
            got = await self._request_token()
            return redis_locks.SharedToken(got.access_token, got.expires_at - self.wall())

        got = await self._shared.fetch(self.identity, exchange, reject=reject, margin_s=REFRESH_MARGIN_S)
        token = CachedToken(got.access_token, self.wall() + got.expires_in_s)
        self.cache.save(self.identity, token)
        return token

    async def _request_token(self) -> CachedToken:
        now = self.wall()
        blocked = self.cache.blocked_until(self.identity)
        if blocked > now:
            raise self._error(
                ErrorKind.RATE_LIMITED,
                f"Zoho blocked new access tokens for this refresh token (too many token requests); retry in "
                f"{blocked - now:.0f} s. Nothing was sent.",
                retry_after_s=blocked - now,
                upstream_code="Access Denied",
            )
        recent = self.cache.requests_since(self.identity, now - WINDOW_S)
        if len(recent) >= LOCAL_CAP:
            wait = recent[0] + WINDOW_S - now
            raise self._error(
                ErrorKind.RATE_LIMITED,
                f"{len(recent)} Zoho access tokens were requested in the last 10 minutes; Zoho blocks a refresh "
                f"token after {ZOHO_CAP}, so storelink stops at {LOCAL_CAP}. Retry in {wait:.0f} s.",
                retry_after_s=wait,
            )
        self.cache.record_request(self.identity, now)  # counted by Zoho even if the answer is lost
        self.token_requests += 1
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        try:
            body = await _post_token(self._client, self.accounts_url, form, dc=self.dc)
        except _Throttled:
            self.cache.block(self.identity, now + WINDOW_S)  # Zoho blocks the rest of the window
            raise
        token = str(body.get("access_token") or "")
        if not token:
            raise self._error(
                ErrorKind.UPSTREAM_ERROR, "Zoho's token endpoint answered without an access_token; retry later."
            )
        token_obj = CachedToken(token, now + _expires_in(body))
        self.cache.save(self.identity, token_obj)
        return token_obj


def _expires_in(body: dict[str, Any]) -> float:
    """Seconds. Older Zoho answers gave ``expires_in`` in ms beside ``expires_in_sec``."""
    for key in ("expires_in_sec", "expires_in"):
        value = body.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value) / 1000.0 if value > 86_400 else float(value)
    return DEFAULT_EXPIRES_S


async def _post_token(
    client: httpx2.AsyncClient, accounts_url: str, form: dict[str, str], *, dc: str
) -> dict[str, Any]:
    """POST the form; return the JSON body, or raise the error it means. ``dc`` is for messages."""
    try:
        response = await client.post(f"{accounts_url}{TOKEN_PATH}", data=form)
    except httpx2.HTTPError as exc:
        raise ConnectorError(
            ErrorKind.UNAVAILABLE,
            f"Could not reach Zoho's accounts server ({type(exc).__name__}); retry later.",
        ) from None
    if response.status_code >= 500:
        raise ConnectorError(
            ErrorKind.UNAVAILABLE, f"Zoho's accounts server failed with {response.status_code}; retry later."
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            f"Zoho's token endpoint answered {response.status_code} without JSON; retry later.",
            retryable=False,
        )
    error = body.get("error")
    if error is None and response.status_code == 200:
        return body
    error_text = str(error or f"HTTP {response.status_code}")
    description = str(body.get("error_description") or "")
    if error_text.lower() == "access denied" or "too many requests" in description.lower():
        raise _Throttled(
            ErrorKind.RATE_LIMITED,
            "Zoho refused a new access token: too many token requests for this refresh token in 10 minutes. "
            f"It is blocked for the rest of the window; retry in {WINDOW_S:.0f} s.",
            retry_after_s=WINDOW_S,
            retryable=False,
            upstream_code="Access Denied",
        )
    where = f"ZOHO_DC={dc!r} ({accounts_url})"
    if error_text == "invalid_client":
        message = (
            f"Zoho does not know this client (invalid_client). Check ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET, and "
            f"that {where} is the data centre where the client was registered."
        )
    else:
        message = (
            f"Zoho rejected the refresh token or grant ({error_text}). It may be revoked, mistyped, or minted in "
            f"another data centre than {where}. Mint a new one with `storelink auth zoho` and set "
            "ZOHO_REFRESH_TOKEN."
        )
    raise ConnectorError(ErrorKind.UNAUTHORIZED, message, retryable=False, upstream_code=error_text[:40])


class _Throttled(ConnectorError):
    """The accounts server's Access Denied: the caller blocks the identity for the window."""


# -- minting a refresh token (`storelink auth zoho`) ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class GrantResult:
    refresh_token: SecretStr
    access_token: SecretStr
    expires_in: float
    scope: str | None
    api_domain: str | None


def authorization_url(accounts_url: str, *, client_id: str, redirect_uri: str, scopes: tuple[str, ...]) -> str:
    """The consent page for a server-based client; ``access_type=offline`` asks for a refresh token."""
    query = urlencode(
        {
            "scope": ",".join(scopes),
            "client_id": client_id,
            "response_type": "code",
            "access_type": "offline",
            "prompt": "consent",
            "redirect_uri": redirect_uri,
        }
    )
    return f"{accounts_url.rstrip('/')}/oauth/v2/auth?{query}"


async def exchange_grant_code(
    client: httpx2.AsyncClient,
    *,
    accounts_url: str,
    client_id: str,
    client_secret: SecretStr,
    code: str,
    dc: str,
    redirect_uri: str | None = None,
) -> GrantResult:
    """Trade a grant code (Self Client, or the ``code`` a redirect brought back) for tokens."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret.get_secret_value(),
        "code": code.strip(),
    }
    if redirect_uri:
        form["redirect_uri"] = redirect_uri
    body = await _post_token(client, accounts_url.rstrip("/"), form, dc=dc)
    refresh = body.get("refresh_token")
    if not refresh:
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            "Zoho returned no refresh token: the grant was for online access. Generate the code again (Self Client "
            "codes always include one; a redirect flow needs access_type=offline and prompt=consent).",
            retryable=False,
        )
    return GrantResult(
        refresh_token=SecretStr(str(refresh)),
        access_token=SecretStr(str(body.get("access_token") or "")),
        expires_in=_expires_in(body),
        scope=str(body["scope"]) if body.get("scope") else None,
        api_domain=str(body["api_domain"]) if body.get("api_domain") else None,
    )
