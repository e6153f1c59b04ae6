"""Google OAuth for the GA4 and Search Console connectors.

Two ways to hold credentials, both exchanged at the account's ``token_url``
(``STORELINK_GOOGLE_TOKEN_URL``) for one-hour access tokens (api-facts.md §2.1):

* an OAuth client with a refresh token (``GOOGLE_CLIENT_ID``, ``GOOGLE_CLIENT_SECRET``,
  ``GOOGLE_REFRESH_TOKEN``; mint one with ``storelink auth google``): ``grant_type=refresh_token``;
* a service-account key file (``GOOGLE_APPLICATION_CREDENTIALS``): a JWT signed with the key
  (google-auth's ``RSASigner`` and ``jwt.encode``) sent as ``grant_type=jwt-bearer``. A gcloud
  ``authorized_user`` file in the same variable is read as the first kind.

When both are set, the explicit OAuth client wins: ``GOOGLE_APPLICATION_CREDENTIALS`` is often set
machine-wide for other tools.

:class:`GoogleTokenManager` is the pipeline's :class:`Authenticator`. It refreshes *ahead* of
expiry (``REFRESH_MARGIN_S`` before it), so calls do not collect a 401 first; one refresh runs at a
time however many calls wait (a lock, re-checked inside); tokens are cached in the embedded store
(:mod:`storelink.auth.tokens`). ``invalid_grant`` cannot heal by retrying, so it marks the manager
failed: every later call fails at once with ``unauthorized`` and says how to mint a new token,
until the process restarts with new credentials. Messages never carry the refresh token, the
client secret, the key or an access token.

The token endpoint is called with our own httpx2 client over the connector's wire (live: the
pooled transport; tests: the in-process fake), not through the resilience pipeline: a token
exchange is not a call to the API and must not spend its quota, breaker or retry budget.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx2
from google.auth import crypt as google_crypt
from google.auth import jwt as google_jwt
from pydantic import SecretStr

from storelink.auth.tokens import CachedToken, TokenCache, TokenStore, fingerprint
from storelink.clock import Clock
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.pipeline import Authenticator
from storelink.resilience.redis_locks import SharedToken, SharedTokens
from storelink.resilience.wire import SharedTransport
from storelink.store import EmbeddedStore
from storelink.stores import GoogleAccount

__all__ = [
    "ANALYTICS_READONLY",
    "JWT_BEARER",
    "REFRESH_MARGIN_S",
    "WEBMASTERS_READONLY",
    "GoogleTokenManager",
    "Grant",
    "RefreshTokenGrant",
    "ServiceAccountGrant",
    "StaticBearer",
    "google_authenticator",
    "load_key_file",
]

ANALYTICS_READONLY = "https://www.googleapis.com/auth/analytics.readonly"
WEBMASTERS_READONLY = "https://www.googleapis.com/auth/webmasters.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN_S = 300.0  # refresh when less than five minutes are left
ASSERTION_LIFETIME_S = 3600  # Google's maximum for a JWT-bearer assertion
TOKEN_RETRY_WAIT_S = 1.0  # one retry of a 5xx / `internal_failure` / broken connection


# -- grants ----------------------------------------------------------------------------------------


class Grant(Protocol):
    """One way of obtaining access tokens. ``identity`` is safe to show; nothing else is."""

    @property
    def identity(self) -> str: ...

    def cache_key(self, scopes: Sequence[str]) -> str: ...

    def form(self, *, now: float, token_url: str, scopes: Sequence[str]) -> dict[str, str]: ...

    def remedy(self, connector: str) -> str:
        """What to do when the token endpoint answers ``invalid_grant``."""
        ...

    def secrets(self) -> list[str]:
        """Values that must never be shown (used to scrub upstream text, defensively)."""
        ...


@dataclass(frozen=True)
class RefreshTokenGrant:
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    source: str = "GOOGLE_REFRESH_TOKEN"

    @property
    def identity(self) -> str:
        return f"OAuth client {self.client_id}"

    def cache_key(self, scopes: Sequence[str]) -> str:
        return fingerprint("refresh_token", self.client_id, self.refresh_token.get_secret_value(), *sorted(scopes))

    def form(self, *, now: float, token_url: str, scopes: Sequence[str]) -> dict[str, str]:
        # No `scope`: the token carries what the user granted; asking for more would fail.
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "refresh_token": self.refresh_token.get_secret_value(),
        }

    def remedy(self, connector: str) -> str:
        if self.source == "GOOGLE_APPLICATION_CREDENTIALS":
            return (
                "The refresh token in the GOOGLE_APPLICATION_CREDENTIALS file (an authorized_user file) was "
                "revoked or has expired. Run `storelink auth google` and set GOOGLE_CLIENT_ID, "
                "GOOGLE_CLIENT_SECRET and GOOGLE_REFRESH_TOKEN, or recreate the file with "
                f"`gcloud auth application-default login`; see docs/connectors/{connector}.md."
            )
        return (
            "GOOGLE_REFRESH_TOKEN was revoked, has expired (OAuth apps in 'Testing' status get tokens "
            "that expire after 7 days) or belongs to another OAuth client. Mint a new one with "
            "`storelink auth google` and set GOOGLE_REFRESH_TOKEN to the value it prints; "
            f"see docs/connectors/{connector}.md."
        )

    def secrets(self) -> list[str]:
        return [self.client_secret.get_secret_value(), self.refresh_token.get_secret_value()]


class ServiceAccountGrant:
    """A service-account key: signs a short-lived JWT assertion per exchange."""

    def __init__(self, *, client_email: str, signer: Any, private_key: SecretStr) -> None:
        self.client_email = client_email
        self._signer = signer
        self._private_key = private_key

    @property
    def identity(self) -> str:
        return f"service account {self.client_email}"

    def cache_key(self, scopes: Sequence[str]) -> str:
        return fingerprint("service_account", self.client_email, str(self._signer.key_id), *sorted(scopes))

    def assertion(self, *, now: float, token_url: str, scopes: Sequence[str]) -> str:
        issued = int(now)
        payload = {
            "iss": self.client_email,
            "scope": " ".join(scopes),
            "aud": token_url,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_S,
        }
        token: bytes = google_jwt.encode(self._signer, payload)  # type: ignore[no-untyped-call]
        return token.decode("ascii")

    def form(self, *, now: float, token_url: str, scopes: Sequence[str]) -> dict[str, str]:
        return {"grant_type": JWT_BEARER, "assertion": self.assertion(now=now, token_url=token_url, scopes=scopes)}

    def remedy(self, connector: str) -> str:
        return (
            f"Google rejected the signed assertion of {self.identity}: its key may have been deleted or "
            "disabled, or this machine's clock is wrong. Create a new JSON key (Cloud console → IAM → "
            "Service accounts → Keys), point GOOGLE_APPLICATION_CREDENTIALS at it and check the clock; "
            f"see docs/connectors/{connector}.md."
        )

    def secrets(self) -> list[str]:
        return [self._private_key.get_secret_value()]


def load_key_file(path: Path) -> Grant:
    """Read ``GOOGLE_APPLICATION_CREDENTIALS``: a service-account key or a gcloud authorized_user file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _not_configured(f"GOOGLE_APPLICATION_CREDENTIALS names {path}; it cannot be read ({reason}).") from None
    except ValueError:
        raise _not_configured(f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which is not JSON.") from None
    if not isinstance(info, dict):
        raise _not_configured(f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which is not a Google key file.")
    kind = info.get("type")
    if kind == "authorized_user":
        try:
            return RefreshTokenGrant(
                client_id=str(info["client_id"]),
                client_secret=SecretStr(str(info["client_secret"])),
                refresh_token=SecretStr(str(info["refresh_token"])),
                source="GOOGLE_APPLICATION_CREDENTIALS",
            )
        except KeyError as exc:
            raise _not_configured(f"The authorized_user file {path} lacks `{exc.args[0]}`.") from None
    if kind != "service_account":
        raise _not_configured(
            f"GOOGLE_APPLICATION_CREDENTIALS names {path}, whose type is {kind!r}; storelink reads "
            "'service_account' keys and 'authorized_user' files."
        )
    missing = [k for k in ("client_email", "private_key") if not info.get(k)]
    if missing:
        raise _not_configured(f"The service-account key {path} lacks {', '.join(missing)}.")
    try:
        signer = google_crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        raise _not_configured(f"The private key in {path} cannot be read; download a new key.") from None
    return ServiceAccountGrant(
        client_email=str(info["client_email"]), signer=signer, private_key=SecretStr(str(info["private_key"]))
    )


def _not_configured(message: str) -> ConnectorError:
    return ConnectorError(ErrorKind.NOT_CONFIGURED, message + " See `storelink live-check`.", retryable=False)


# -- authenticators --------------------------------------------------------------------------------


class StaticBearer:
    """A fixed bearer token (the fakes' demo token in mock mode). Cannot be renewed."""

    def __init__(self, token: str, *, api_host: str | None = None) -> None:
        self._token = token
        self._host = api_host

    async def apply(self, request: httpx2.Request) -> None:
        if self._host is None or request.url.host == self._host:
            request.headers["Authorization"] = f"Bearer {self._token}"

    async def refresh(self, rejected: httpx2.Request) -> bool:
        return False

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: ErrorKind
    message: str
    status: int | None
    upstream_code: str | None

    def error(self) -> ConnectorError:
        return ConnectorError(
            self.kind, self.message, status=self.status, retryable=False, upstream_code=self.upstream_code
        )


class GoogleTokenManager:
    """Access tokens for one connector: cached, refreshed ahead of expiry, one refresh at a time."""

    def __init__(
        self,
        *,
        grant_loader: Callable[[], Grant],
        scopes: Sequence[str],
        accepted_scopes: Sequence[str],
        token_url: str,
        client: httpx2.AsyncClient,
        clock: Clock,
        wall: Callable[[], float],
        cache: TokenStore,
        connector: str,
        api_host: str | None = None,
        margin_s: float = REFRESH_MARGIN_S,
        shared: SharedTokens | None = None,
    ) -> None:
        self._grant_loader = grant_loader
        self._grant: Grant | None = None
        self.scopes = tuple(scopes)
        self.accepted_scopes = tuple(accepted_scopes)
        self.token_url = token_url
        self._client = client
        self._clock = clock
        self._wall = wall
        self._cache = cache
        self.connector = connector
        self._host = api_host
        self._margin = margin_s
        self._token: str | None = None
        self._expires = 0.0  # on the monotonic clock
        self._lock = asyncio.Lock()
        self._failure: _Failure | None = None
        self._shared = shared  # replicas: one exchange across all of them (issue 10)
        self.exchanges = 0

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``ok``, or ``unauthorized`` / ``forbidden`` / ``not_configured`` once marked failed."""
        return self._failure.kind.value if self._failure else "ok"

    @property
    def grant(self) -> Grant:
        if self._grant is None:
            try:
                self._grant = self._grant_loader()
            except ConnectorError as err:
                self._failure = _Failure(err.kind, err.message, None, None)
                raise
        return self._grant

    @property
    def cache_key(self) -> str:
        return self.grant.cache_key(self.scopes)

    def expires_in(self) -> float | None:
        """Seconds the current token has left, or None without one."""
        return None if self._token is None else self._expires - self._clock.now()

    def _fresh(self) -> bool:
        return self._token is not None and self._clock.now() < self._expires - self._margin

    # -- the Authenticator protocol ------------------------------------------------------------------
    async def token(self) -> str:
        if self._failure is not None:
            raise self._failure.error()
        if not self._fresh():
            async with self._lock:
                if self._failure is not None:
                    raise self._failure.error()
                if not self._fresh() and not await self._load_cached():
                    await self._obtain(reject=None)
        assert self._token is not None
        return self._token

    async def apply(self, request: httpx2.Request) -> None:
        if self._host is not None and request.url.host != self._host:
            return  # the token is for the API host only
        request.headers["Authorization"] = f"Bearer {await self.token()}"

    async def refresh(self, rejected: httpx2.Request) -> bool:
        """After a 401: fetch a new token, unless another call already did since ``rejected`` was sent."""
        async with self._lock:
            if self._failure is not None:
                raise self._failure.error()
            sent = rejected.headers.get("Authorization", "").removeprefix("Bearer ")
            if self._token is None or sent == self._token:
                await self._cache.delete(self.cache_key)
                self._token = None
                await self._obtain(reject=sent)
        return True

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the exchange ----------------------------------------------------------------------------------
    async def _load_cached(self) -> bool:
        cached = await self._cache.get(self.cache_key)
        if cached is None:
            return False
        left = cached.expires_at - self._wall()
        if left <= self._margin:
            return False
        self._token = cached.access_token
        self._expires = self._clock.now() + left
        return True

    async def _obtain(self, *, reject: str | None) -> None:
        """A new token: from the replicas' shared one when there is a usable one (not ``reject``, the
        token a 401 refused), else from one exchange made under the shared lease."""
        if self._shared is None:
            await self._exchange()
            return

        async def exchange() -> SharedToken:
            await self._exchange()
            assert self._token is not None
            return SharedToken(self._token, self._expires - self._clock.now())

        got = await self._shared.fetch(self.cache_key, exchange, reject=reject, margin_s=self._margin)
        self._token = got.access_token
        self._expires = self._clock.now() + got.expires_in_s

    async def _exchange(self) -> None:
        grant = self.grant
        self.exchanges += 1
        response: httpx2.Response | None = None
        for attempt in (1, 2):
            form = grant.form(now=self._wall(), token_url=self.token_url, scopes=self.scopes)
            try:
                response = await self._client.post(self.token_url, data=form, headers={"Accept": "application/json"})
            except httpx2.HTTPError as exc:
                if attempt == 1:
                    await self._clock.sleep(TOKEN_RETRY_WAIT_S)
                    continue
                raise ConnectorError(
                    ErrorKind.UNAVAILABLE,
                    f"Could not reach Google's token endpoint ({type(exc).__name__}); retry later.",
                ) from None
            if attempt == 1 and (response.status_code >= 500 or _error_code(response) == "internal_failure"):
                await self._clock.sleep(TOKEN_RETRY_WAIT_S)
                continue
            break
        assert response is not None
        body = _json(response)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            await self._accept(body, grant)
            return
        raise self._refused(response.status_code, body, grant)

    async def _accept(self, body: dict[str, Any], grant: Grant) -> None:
        granted = str(body.get("scope") or "")
        if granted and self.accepted_scopes and not set(granted.split()) & set(self.accepted_scopes):
            self._failure = _Failure(
                ErrorKind.FORBIDDEN,
                f"Google issued a token for {grant.identity} without the scope this connector needs "
                f"({' or '.join(self.accepted_scopes)}). Mint a refresh token that includes it with "
                f"`storelink auth google`; see docs/connectors/{self.connector}.md.",
                403,
                "insufficient_scope",
            )
            raise self._failure.error()
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = str(body["access_token"])
        self._expires = self._clock.now() + lifetime
        await self._cache.put(
            self.cache_key,
            CachedToken(self._token, self._wall() + lifetime, granted or " ".join(self.scopes)),
        )

    def _refused(self, status: int, body: dict[str, Any], grant: Grant) -> ConnectorError:
        code = str(body.get("error") or "")
        said = _scrub(str(body.get("error_description") or ""), grant.secrets())
        said_part = f" (Google said: {said})" if said else ""
        if code == "invalid_grant":
            self._failure = _Failure(
                ErrorKind.UNAUTHORIZED,
                f"Google refused the credentials: invalid_grant{said_part}. " + grant.remedy(self.connector),
                status,
                code,
            )
            return self._failure.error()
        if code in ("invalid_client", "unauthorized_client"):
            self._failure = _Failure(
                ErrorKind.UNAUTHORIZED,
                f"Google refused {grant.identity}: {code}{said_part}. Check GOOGLE_CLIENT_ID and "
                "GOOGLE_CLIENT_SECRET (an OAuth client of type 'Desktop app'), or the service-account key; "
                f"see docs/connectors/{self.connector}.md.",
                status,
                code,
            )
            return self._failure.error()
        if code == "invalid_scope":
            self._failure = _Failure(
                ErrorKind.FORBIDDEN,
                f"Google refused the scopes {' '.join(self.scopes)}{said_part}. Enable the API in the "
                f"Cloud project and mint credentials with these scopes; see docs/connectors/{self.connector}.md.",
                status,
                code,
            )
            return self._failure.error()
        if status == 429:
            return ConnectorError(
                ErrorKind.RATE_LIMITED, "Google's token endpoint is rate limiting this client (429); retry later."
            )
        if status >= 500:
            return ConnectorError(
                ErrorKind.UNAVAILABLE, f"Google's token endpoint failed with {status}; retry later.", status=status
            )
        if not body:
            return ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                f"Google's token endpoint answered {status} without a JSON body; retry later.",
                status=status,
            )
        return ConnectorError(
            ErrorKind.UNAUTHORIZED,
            f"Google's token endpoint refused the exchange ({status} {code or 'no error code'}){said_part}. "
            f"See `storelink live-check {self.connector}`.",
            status=status,
            retryable=False,
            upstream_code=code or None,
        )


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(response: httpx2.Response) -> str:
    return str(_json(response).get("error") or "")


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text[:200]


def google_authenticator(
    *,
    account: GoogleAccount,
    live: bool,
    demo_token: str,
    connector: str,
    scopes: Sequence[str],
    accepted_scopes: Sequence[str],
    inner: httpx2.AsyncBaseTransport,
    clock: Clock,
    wall: Callable[[], float],
    store: EmbeddedStore | None,
    api_host: str | None,
    timeout_s: float,
    shared: SharedTokens | None = None,
    tokens: TokenStore | None = None,
) -> tuple[GoogleTokenManager | StaticBearer, str]:
    """The authenticator a Google connector uses, and its credential partition (a fingerprint).
    Its access tokens are kept in ``tokens`` (the replicas' sealed table) or else ``store``.

    Mock mode (``live=False``) uses the fakes' demo token: no token endpoint is involved."""
    s = account
    if not live:
        return StaticBearer(demo_token, api_host=api_host), "demo"
    loader: Callable[[], Grant]
    if s.client_id and s.client_secret and s.refresh_token:
        grant = RefreshTokenGrant(s.client_id, s.client_secret, s.refresh_token)
        partition = fingerprint("refresh_token", grant.client_id, grant.refresh_token.get_secret_value())

        def loader() -> Grant:
            return grant

    elif s.application_credentials:
        path = s.application_credentials
        partition = fingerprint("key_file", str(path))

        def loader() -> Grant:
            return load_key_file(path)

    else:
        return StaticBearer(demo_token, api_host=api_host), "demo"
    client = httpx2.AsyncClient(transport=SharedTransport(inner), timeout=timeout_s)
    manager = GoogleTokenManager(
        grant_loader=loader,
        scopes=scopes,
        accepted_scopes=accepted_scopes,
        token_url=s.token_url,
        client=client,
        clock=clock,
        wall=wall,
        cache=tokens if tokens is not None else TokenCache(store),
        connector=connector,
        api_host=api_host,
        shared=shared,
    )
    return manager, partition


_: type[Authenticator] = GoogleTokenManager  # structural check: it is an Authenticator
