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
* Otherwise the token endpoint fails like any upstream and is treated like one
  (:class:`TokenClassifier`): a 429 is ``rate_limited`` and retried after its ``Retry-After``;
  5xx, a dropped or short answer are ``unavailable`` and a stall ``timeout``, retried with the
  connector's backoff; all within the deadline of the Mail request the token is for.

The store holds the access token (the database file is private, mode 0600) and a hash of the
refresh-token identity, never the refresh token or the client secret. Credentials travel in the
form body, never in a URL.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx2
from pydantic import SecretStr

from storelink.auth.tokens import CachedToken as SharedToken
from storelink.auth.tokens import TokenCache as SharedTokenCache
from storelink.auth.tokens import TokenStore, fingerprint
from storelink.clock import Clock, LoopClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience import redis_locks
from storelink.resilience.classify import HttpClassifier, Verdict
from storelink.resilience.deadline import Deadline
from storelink.resilience.policy import retry_policy
from storelink.resilience.retry import RetryPolicy
from storelink.settings import ZohoKnobs
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
    "TokenClassifier",
    "ZohoOAuth",
    "authorization_url",
    "call_deadline",
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
ACCESS_DENIED = "Access Denied"  # Zoho's answer to too many token requests
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
    async def load(self, identity: str) -> CachedToken | None: ...
    async def save(self, identity: str, token: CachedToken) -> None: ...
    async def drop(self, identity: str, access_token: str) -> None: ...
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

    async def load(self, identity: str) -> CachedToken | None:
        return self._tokens.get(identity)

    async def save(self, identity: str, token: CachedToken) -> None:
        self._tokens[identity] = token

    async def drop(self, identity: str, access_token: str) -> None:
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

    The access token lives in ``tokens`` when given (the replicas' sealed table in PostgreSQL), else
    in the embedded ``oauth_tokens`` table (:mod:`storelink.auth.tokens`, which keeps the database
    files private); the request log and Zoho's blocks are Zoho's own, on this machine (across
    replicas, Redis's lease makes one token request for all of them)."""

    def __init__(self, store: EmbeddedStore, *, tokens: TokenStore | None = None) -> None:
        self.tokens: TokenStore = tokens if tokens is not None else SharedTokenCache(store, provider="zoho")
        self.db = store.db
        self.db.execute("CREATE TABLE IF NOT EXISTS zoho_token_requests (identity TEXT NOT NULL, at REAL NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS zoho_token_requests_at ON zoho_token_requests (identity, at)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS zoho_token_blocks (identity TEXT PRIMARY KEY, blocked_until REAL NOT NULL)"
        )

    async def load(self, identity: str) -> CachedToken | None:
        found = await self.tokens.get(identity)
        return CachedToken(found.access_token, found.expires_at) if found else None

    async def save(self, identity: str, token: CachedToken) -> None:
        await self.tokens.put(identity, SharedToken(token.access_token, token.expires_at, scope=""))

    async def drop(self, identity: str, access_token: str) -> None:
        found = await self.tokens.get(identity)
        if found is not None and found.access_token == access_token:
            await self.tokens.delete(identity)

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
# The deadline of the Mail request being sent, set around each one by the connector
# (``ZohoConnector.api``): a token fetched for that request, retries included, fits inside it.
call_deadline: ContextVar[Deadline | None] = ContextVar("storelink_zoho_call_deadline", default=None)


class ZohoOAuth:
    """Puts ``Authorization: Zoho-oauthtoken …`` on requests to the Mail host, and nowhere else.

    A token request is classified and retried like any call (:class:`TokenClassifier`, the
    connector's :class:`RetryPolicy`, ``Retry-After`` first, full-jitter backoff otherwise), but not
    through the Mail pipeline: it must not spend the Mail API's rate, breaker or retry budget. It
    runs within the deadline of the Mail request it serves (:data:`call_deadline`), each attempt
    within the attempt timeout, and the Mail request is then left only what remains of that
    deadline. Every attempt counts against Zoho's token cap, so every attempt is recorded first."""

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
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        # The connector's knobs (STORELINK_ZOHO_TIMEOUT, _CONNECT_TIMEOUT, _DEADLINE): no defaults here.
        attempt_timeout_s: float,
        connect_timeout_s: float,
        deadline_s: float,
        random: Callable[[], float] = _random.random,
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
        self.clock: Clock = clock or LoopClock()
        self.retry = retry or retry_policy(ZohoKnobs())
        self.attempt_timeout_s = attempt_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.deadline_s = deadline_s  # for a token asked for outside a Mail request
        self.random = random
        self.classifier = TokenClassifier(accounts_url=self.accounts_url, dc=dc, wall_clock=wall)

    def _fresh(self, token: CachedToken | None) -> bool:
        return token is not None and self.wall() < token.expires_at - REFRESH_MARGIN_S

    def _deadline(self) -> Deadline:
        return call_deadline.get() or Deadline.after(self.clock, self.deadline_s)

    @asynccontextmanager
    async def _locked(self, deadline: Deadline) -> AsyncIterator[None]:
        """The refresh lock, waited for no longer than the caller's deadline."""
        try:
            async with asyncio.timeout(deadline.remaining()):
                await self._lock.acquire()
        except TimeoutError:
            raise ConnectorError(
                ErrorKind.TIMEOUT,
                "Another call's Zoho token request took this call's whole deadline; retry later.",
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    async def token(self) -> str:
        current = self._current
        if current is not None and self._fresh(current):
            return current.access_token
        deadline = self._deadline()
        async with self._locked(deadline):
            if not self._fresh(self._current):  # another caller may have refreshed while we waited
                stored = await self.cache.load(self.identity)  # … or another process
                self._current = stored if self._fresh(stored) else await self._obtain(reject=None, deadline=deadline)
        assert self._current is not None
        return self._current.access_token

    async def apply(self, request: httpx2.Request) -> None:
        if request.url.host == self.api_host:
            request.headers[HEADER] = PREFIX + await self.token()
            _fit_timeouts(request, call_deadline.get())

    async def refresh(self, rejected: httpx2.Request) -> bool:
        sent = rejected.headers.get(HEADER, "").removeprefix(PREFIX)
        deadline = self._deadline()
        async with self._locked(deadline):
            current = self._current
            if current is not None and current.access_token != sent and self._fresh(current):
                return True  # replaced since that request was sent
            stored = await self.cache.load(self.identity)
            if stored is not None and stored.access_token != sent and self._fresh(stored):
                self._current = stored
                return True
            if sent:
                await self.cache.drop(self.identity, sent)
            self._current = await self._obtain(reject=sent or None, deadline=deadline)
        return True

    # -- the token request ------------------------------------------------------------------------
    def _error(self, kind: ErrorKind, message: str, **extra: Any) -> ConnectorError:
        return ConnectorError(kind, message, retryable=False, **extra)

    async def _obtain(self, *, reject: str | None, deadline: Deadline) -> CachedToken:
        """A new token: the replicas' shared one when usable (not ``reject``, the token a 401
        refused), else one token request made under the shared lease. Replicas on other machines
        keep their own count of token requests, so sharing is what keeps all of them under Zoho's cap."""
        if self._shared is None:
            return await self._request_token(deadline)

        async def exchange() -> redis_locks.SharedToken:
            got = await self._request_token(deadline)
            return redis_locks.SharedToken(got.access_token, got.expires_at - self.wall())

        got = await self._shared.fetch(self.identity, exchange, reject=reject, margin_s=REFRESH_MARGIN_S)
        token = CachedToken(got.access_token, self.wall() + got.expires_in_s)
        await self.cache.save(self.identity, token)
        return token

    def _admit(self) -> float:
        """Check Zoho's block and the local cap, then record the request about to be sent."""
        now = self.wall()
        blocked = self.cache.blocked_until(self.identity)
        if blocked > now:
            raise self._error(
                ErrorKind.RATE_LIMITED,
                f"Zoho blocked new access tokens for this refresh token (too many token requests); retry in "
                f"{blocked - now:.0f} s. Nothing was sent.",
                retry_after_s=blocked - now,
                upstream_code=ACCESS_DENIED,
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
        return now

    async def _request_token(self, deadline: Deadline) -> CachedToken:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        attempts = 0
        while True:
            if deadline.expired():
                raise ConnectorError(
                    ErrorKind.TIMEOUT,
                    f"The call's deadline passed after {attempts} Zoho token request(s); retry later.",
                )
            attempts += 1
            sent_at = self._admit()
            timeout = min(self.attempt_timeout_s, deadline.remaining())
            verdict = await _token_attempt(
                self._client,
                f"{self.accounts_url}{TOKEN_PATH}",
                form,
                self.classifier,
                limits=httpx2.Timeout(timeout, connect=min(self.connect_timeout_s, timeout)),
            )
            if verdict.ok:
                break
            if verdict.upstream_code == ACCESS_DENIED:
                self.cache.block(self.identity, sent_at + WINDOW_S)  # Zoho blocks the rest of the window
            wait = self._retry_wait(verdict, attempts, deadline)
            if wait is None:
                raise verdict.error()
            await self.clock.sleep(wait)
        body: dict[str, Any] = verdict.body
        token_obj = CachedToken(str(body["access_token"]), sent_at + _expires_in(body))
        await self.cache.save(self.identity, token_obj)
        return token_obj

    def _retry_wait(self, verdict: Verdict, attempts: int, deadline: Deadline) -> float | None:
        """The pipeline's rule: transient verdicts only, at most ``max_retries``, the server's
        ``Retry-After`` over full-jitter backoff, and no wait the deadline could not cover."""
        if not verdict.should_retry or attempts > self.retry.max_retries:
            return None
        wait = verdict.retry_after_s if verdict.retry_after_s is not None else self.retry.backoff(attempts, self.random)
        return wait if deadline.allows(wait) else None


def _fit_timeouts(request: httpx2.Request, deadline: Deadline | None) -> None:
    """Cut the request's timeouts to what is left of ``deadline`` (a token request may have used
    some of the time the attempt was given)."""
    timeouts = request.extensions.get("timeout")
    if deadline is None or not isinstance(timeouts, dict):
        return
    left = deadline.remaining()
    fitted = {phase: left if value is None else min(float(value), left) for phase, value in timeouts.items()}
    request.extensions = {**request.extensions, "timeout": fitted}


def _expires_in(body: dict[str, Any]) -> float:
    """Seconds. Older Zoho answers gave ``expires_in`` in ms beside ``expires_in_sec``."""
    for key in ("expires_in_sec", "expires_in"):
        value = body.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value) / 1000.0 if value > 86_400 else float(value)
    return DEFAULT_EXPIRES_S


class TokenClassifier(HttpClassifier):
    """Zoho's accounts server's ways of failing (api-facts.md §5.2), as verdicts.

    * 429, 408 and 5xx, a broken connection or a stall: the server's trouble, retried (``rate_limited``
      after the ``Retry-After`` wait, ``unavailable``, ``timeout``) like any call;
    * ``Access Denied`` (HTTP 400, too many token requests): ``rate_limited`` for the rest of Zoho's
      10-minute window, not retried (the caller blocks the refresh token for the window);
    * an OAuth error (``invalid_code`` in an HTTP **200**, ``invalid_client``, any other 4xx):
      ``unauthorized``, naming the data centre, not retried;
    * a 2xx that is not JSON or has no ``access_token``: ``upstream_error``, not retried.
    """

    def __init__(self, *, accounts_url: str, dc: str, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(
            title="Zoho's accounts server",
            connector="zoho",
            credential_hint="ZOHO_REFRESH_TOKEN",
            wall_clock=wall_clock,
        )
        self.accounts_url = accounts_url
        self.dc = dc

    def classify_response(self, response: httpx2.Response) -> Verdict:
        verdict = super().classify_response(response)
        if verdict.ok:
            body = verdict.body
            if not isinstance(body, dict):
                return self._contract(response, "without JSON")
            if not body.get("access_token"):
                return self._contract(response, "without an access_token")
        return verdict

    def _contract(self, response: httpx2.Response, what: str) -> Verdict:
        return Verdict(
            ErrorKind.UPSTREAM_ERROR,
            f"Zoho's token endpoint answered {response.status_code} {what}; retry later.",
            status=response.status_code,
            retryable=False,
        )

    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        status = response.status_code
        fields: dict[str, Any] = body if isinstance(body, dict) else {}
        error = fields.get("error")
        description = str(fields.get("error_description") or "")
        if str(error or "").lower() == "access denied" or "too many requests" in description.lower():
            return Verdict(
                ErrorKind.RATE_LIMITED,
                "Zoho refused a new access token: too many token requests for this refresh token in 10 minutes. "
                f"It is blocked for the rest of the window; retry in {WINDOW_S:.0f} s.",
                status=status,
                retry_after_s=WINDOW_S,
                retryable=False,
                upstream_code=ACCESS_DENIED,
                maybe_applied=False,
            )
        if verdict.kind in (ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE):
            return verdict  # 429, 408, 5xx: the server's trouble, retried like any call
        if (verdict.ok and error is None) or verdict.kind is ErrorKind.UPSTREAM_ERROR:
            return verdict
        if not fields:
            return self._contract(response, "without JSON")
        error_text = str(error or f"HTTP {status}")
        where = f"ZOHO_DC={self.dc!r} ({self.accounts_url})"
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
        return Verdict(ErrorKind.UNAUTHORIZED, message, status=status, retryable=False, upstream_code=error_text[:40])


async def _token_attempt(
    client: httpx2.AsyncClient,
    url: str,
    form: dict[str, str],
    classifier: TokenClassifier,
    *,
    limits: httpx2.Timeout | None = None,
) -> Verdict:
    """One POST of the form, classified. Credentials travel in the body, never in the URL."""
    try:
        if limits is None:
            response = await client.post(url, data=form)
        else:
            response = await client.post(url, data=form, timeout=limits)
    except (httpx2.HTTPError, TimeoutError, OSError) as exc:
        return classifier.classify_exception(exc)
    return classifier.classify_response(response)


async def _post_token(
    client: httpx2.AsyncClient, accounts_url: str, form: dict[str, str], *, dc: str
) -> dict[str, Any]:
    """One token request (a grant-code exchange: single use, so never retried); the JSON body,
    or the error it means. ``dc`` is for messages."""
    classifier = TokenClassifier(accounts_url=accounts_url, dc=dc)
    verdict = await _token_attempt(client, f"{accounts_url}{TOKEN_PATH}", form, classifier)
    if not verdict.ok:
        raise verdict.error()
    body: dict[str, Any] = verdict.body
    return body


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
