"""Who may see the pages: loopback-open, password login, or a trusted proxy; and CSRF.

The pages show business data and settings, so they are not open to whoever can reach the port:

* **Open** only when nothing else is configured, the server is bound to a literal loopback
  address (not a name, not empty, not a wildcard), the request comes from a loopback address
  without forwarding headers (a local reverse proxy would otherwise make the world "local"), and
  its ``Host`` is exactly a loopback name or one of ``STORELINK_ALLOWED_HOSTS``, with at most a
  numeric port (a DNS-rebinding page must not read the dashboard).
* **Password** (``STORELINK_DASHBOARD_PASSWORD``): ``/app/login`` sets a signed session cookie
  (HMAC-SHA256 with ``STORELINK_SESSION_SECRET``, random per process when unset), HttpOnly,
  SameSite=Lax, Secure over HTTPS, valid for :data:`SESSION_TTL_S`. Failed logins are limited
  per client address. A session the app replaces (logout, login) is revoked in this process.
* **Trusted proxy** (``STORELINK_TRUSTED_PROXY_HEADER``, e.g. ``X-Forwarded-User``): a request
  carrying the header is signed in as that user. With ``STORELINK_TRUSTED_PROXIES`` set, only
  requests from those proxies are believed; without it, only set the header when the app is
  reachable through that proxy alone, since anyone who can reach the port can send it.
* **A key** of ``STORELINK_MCP_KEYS_FILE`` (:mod:`storelink.keys`) as ``Authorization: Bearer
  <key>``: the request is that key's (``key:<name>``), reaching only the stores its entry names
  (:class:`~storelink.access.StoreAccess` in the request's ``store_access``); no cookie is set.
  A bearer that matches no key is 401, never the login page. Everyone else above is an operator
  and reaches every store.

Client address: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from a peer in
``STORELINK_TRUSTED_PROXIES``; the client is the rightmost hop that is not such a proxy. Forwarding
headers from any other peer make the request unattributable (the ASGI server may already have put
a forwarded address in its place: uvicorn does for loopback peers), and all such requests share
one login limit.

Every visitor gets a session (anonymous until signed in) whose id keys a CSRF token; every form
that changes state carries it and its handler calls :func:`require_csrf`. Only the pages
(``/`` and ``/app/…``) are guarded; ``/healthz``, ``/readyz`` and ``/metrics`` stay open for
probes and scrapers (they hold no business data), and ``/mcp`` has its own OAuth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Literal
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.access import EVERY_STORE
from storelink.database.sessions import SessionRevocations
from storelink.errors import ConfigurationError, ConnectorError
from storelink.keys import McpKey, McpKeys, load_keys_file
from storelink.settings import Settings
from storelink.web.state import database_of

log = logging.getLogger("storelink.web.auth")

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "SESSION_TTL_S",
    "UNATTRIBUTED",
    "AccessPolicy",
    "CsrfError",
    "DashboardGuard",
    "LoginLimiter",
    "Session",
    "SessionSigner",
    "is_protected",
    "require_csrf",
]

SESSION_COOKIE = "storelink_session"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600.0
LOGIN_PATH = "/app/login"
_PUBLIC = (LOGIN_PATH, "/app/static/")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip")
UNATTRIBUTED = "forwarded-by-unnamed-peer"
"""The login-limit key of every request with forwarding headers from a peer not named a proxy."""
_MAX_REVOKED = 100_000

Mode = Literal["open", "password", "proxy", "locked"]


def is_protected(path: str) -> bool:
    return path == "/" or path == "/app" or path.startswith("/app/")


def _is_loopback(host: str) -> bool:
    """A literal loopback address only: a name may resolve anywhere, and empty binds everything."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str | None:
    """``Host`` without its port (``[::1]:8765`` → ``::1``), or None unless it is exactly a name
    with at most a numeric port (``127.0.0.1:8765@evil.example`` is not)."""
    if host_header.startswith("["):
        name, bracket, port = host_header[1:].partition("]")
        if not bracket or (port and not (port[:1] == ":" and port[1:].isdigit())):
            return None
        return name.lower()
    name, colon, port = host_header.partition(":")
    if colon and not port.isdigit():
        return None
    return name.lower()


def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    found = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"STORELINK_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8)."
            ) from None
    return tuple(found)


def _bearer(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header (``""`` when empty), None without one."""
    scheme, _, token = Headers(scope=scope).get("authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The X-Forwarded-For hops, all headers joined, first hop first."""
    values = (v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for")
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user: str | None
    issued: float

    def csrf_token(self, signer: SessionSigner) -> str:
        return signer.mac(f"csrf:{self.sid}")


class SessionSigner:
    """``base64url(json).base64url(hmac)``: tamper-evident, not secret (it holds no secret)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def dumps(self, session: Session) -> str:
        body = json.dumps({"sid": session.sid, "user": session.user, "iat": round(session.issued)})
        payload = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
        return f"{payload}.{self.mac(payload)}"

    def loads(self, token: str, *, now: float, ttl_s: float = SESSION_TTL_S) -> Session | None:
        payload, _, mac = token.partition(".")
        if not payload or not hmac.compare_digest(mac, self.mac(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(sid=str(data["sid"]), user=data.get("user"), issued=float(data["iat"]))
        except (ValueError, KeyError, TypeError):
            return None
        if now - session.issued > ttl_s:
            return None
        return session


@dataclass(slots=True)
class LoginLimiter:
    """At most ``attempts`` failed logins per client address per ``window_s``."""

    attempts: int = 5
    window_s: float = 300.0
    clock: Callable[[], float] = time.time
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may now)."""
        now = self.clock()
        recent = [t for t in self._failures.get(client, []) if now - t < self.window_s]
        self._failures[client] = recent
        if len(recent) < self.attempts:
            return 0.0
        return max(1.0, self.window_s - (now - recent[0]))

    def failed(self, client: str) -> None:
        self._failures.setdefault(client, []).append(self.clock())
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class AccessPolicy:
    """Decides, per request, who the visitor is and whether the pages are open to them."""

    def __init__(self, settings: Settings, *, host: str | None = None, clock: Callable[[], float] = time.time) -> None:
        password = settings.dashboard_password.get_secret_value() if settings.dashboard_password else ""
        self.password = password or None
        self.proxy_header = (settings.trusted_proxy_header or "").strip().lower() or None
        self.trusted_proxies = _networks(settings.trusted_proxies)
        self.bound_to_loopback = _is_loopback(host or settings.host)
        extra = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
        self.allowed_hosts = _LOOPBACK_NAMES | extra
        secret = settings.session_secret.get_secret_value() if settings.session_secret else ""
        self.signer = SessionSigner(secret.encode() if secret else secrets.token_bytes(32))
        self.clock = clock
        self.logins = LoginLimiter(clock=clock)
        self.keys: McpKeys | None = load_keys_file(settings.mcp_keys_file) if settings.mcp_keys_file else None
        # sid -> when its cookie would expire anyway. This process's; with PostgreSQL the revocation
        # is also kept there, so every replica refuses the cookie (SessionRevocations).
        self._revoked: dict[str, float] = {}

    @property
    def mode(self) -> Mode:
        if self.password:
            return "password"
        if self.proxy_header:
            return "proxy"
        return "open" if self.bound_to_loopback else "locked"

    def check_password(self, attempt: str) -> bool:
        if self.password is None:
            return False
        return hmac.compare_digest(attempt.encode(), self.password.encode())

    def is_trusted_proxy(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def client_address(self, scope: Scope) -> str:
        """The address failed logins count against (see the module docstring)."""
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        headers = Headers(scope=scope)
        if not self.is_trusted_proxy(peer):
            return UNATTRIBUTED if any(h in headers for h in _FORWARDING) else peer
        hops = _forwarded_for(scope.get("headers", []))
        for hop in reversed(hops):
            if not self.is_trusted_proxy(hop):
                return hop[:100]
        return hops[0][:100] if hops else peer

    def scheme(self, scope: Scope) -> str:
        """``X-Forwarded-Proto`` from a named proxy, else the scheme the request arrived with."""
        client = scope.get("client")
        if client and self.is_trusted_proxy(str(client[0])):
            forwarded = Headers(scope=scope).get("x-forwarded-proto", "").split(",")[0].strip().lower()
            if forwarded in ("http", "https"):
                return forwarded
        return str(scope.get("scheme", "http"))

    async def revoke(self, session: Session, shared: SessionRevocations | None = None) -> None:
        now = self.clock()
        if len(self._revoked) >= _MAX_REVOKED:
            self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
            while len(self._revoked) >= _MAX_REVOKED:  # bounded memory: forget the oldest first
                self._revoked.pop(next(iter(self._revoked)))
        self._revoked[session.sid] = session.issued + SESSION_TTL_S
        if shared is not None:
            try:
                await shared.revoke(session.sid, until=session.issued + SESSION_TTL_S, now=now)
            except ConnectorError as err:
                log.warning("a logout holds on this replica only: %s", err.message)

    async def is_revoked(self, session: Session, shared: SessionRevocations | None = None) -> bool:
        if session.sid in self._revoked:
            return True
        if shared is None:
            return False
        try:
            return await shared.is_revoked(session.sid, now=self.clock())
        except ConnectorError:
            # The pages stay open while PostgreSQL is down (reads do not need it); a logout made on
            # another replica meanwhile is honoured once it answers again.
            return False

    def local_request(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        client = scope.get("client")
        if client is None or not _is_loopback(str(client[0])):
            return False
        if any(h in headers for h in _FORWARDING):
            return False
        return _host_name(headers.get("host", "")) in self.allowed_hosts

    def user_for(self, scope: Scope, session: Session) -> str | None:
        """The signed-in user, ``"local"`` for open loopback access, or None."""
        if session.user:
            return session.user
        client = scope.get("client")
        from_proxy = not self.trusted_proxies or (client is not None and self.is_trusted_proxy(str(client[0])))
        if self.proxy_header and from_proxy:
            value = Headers(scope=scope).get(self.proxy_header, "").strip()
            if value:
                return value[:200]
        if self.mode == "open" and self.local_request(scope):
            return "local"
        return None

    def key_for(self, presented: str) -> McpKey | None:
        """The keys-file entry ``presented`` is, or None."""
        return self.keys.find(presented) if self.keys is not None else None

    def key_session(self, key: McpKey) -> Session:
        """A key's session: never sent as a cookie; its id (which no cookie's can be) keys the
        CSRF token of the forms on the pages the key fetches."""
        return Session(sid=f"key:{key.name}", user=f"key:{key.name}", issued=self.clock())

    def new_session(self, user: str | None = None) -> Session:
        return Session(sid=secrets.token_urlsafe(18), user=user, issued=self.clock())

    def cookie(self, session: Session, *, secure: bool) -> str:
        parts = [
            f"{SESSION_COOKIE}={self.signer.dumps(session)}",
            "Path=/",
            f"Max-Age={int(SESSION_TTL_S)}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if secure:
            parts.append("Secure")
        return "; ".join(parts)

    def why_locked(self) -> str:
        if self.mode == "locked":
            return (
                "The dashboard is bound beyond loopback and no login is configured, so it is closed. "
                "Set STORELINK_DASHBOARD_PASSWORD (or STORELINK_TRUSTED_PROXY_HEADER behind an authenticating "
                "proxy) and restart, or bind to 127.0.0.1."
            )
        return (
            "This page is open only to requests from this machine, addressed to a loopback name or one of "
            "STORELINK_ALLOWED_HOSTS. Set STORELINK_DASHBOARD_PASSWORD to sign in from elsewhere."
        )


class DashboardGuard:
    """Pure ASGI middleware: attaches the session, signs visitors in, keeps strangers out."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        policy = self.policy
        presented = _bearer(scope)
        if presented is not None:
            await self._as_key(presented, scope, receive, send)
            return
        cookie = SimpleCookie()
        try:
            cookie.load(Headers(scope=scope).get("cookie", ""))
        except Exception:  # noqa: BLE001  (a malformed Cookie header is the visitor's problem)
            cookie = SimpleCookie()
        morsel = cookie.get(SESSION_COOKIE)
        session = policy.signer.loads(morsel.value, now=policy.clock()) if morsel else None
        shared = _revocations(scope)
        if session is not None and await policy.is_revoked(session, shared):
            session = None
        fresh = session is None
        if session is None:
            session = policy.new_session()
        user = policy.user_for(scope, session)
        # What the pages see from here on: the client a named proxy vouches for (or the one
        # shared key), and the scheme it says the visitor used (for Secure cookies and Origin).
        scope["scheme"], scope["client"] = policy.scheme(scope), (policy.client_address(scope), 0)
        if not fresh:
            send = self._revoking_sender(send, session, shared)
        state = scope.setdefault("state", {})
        state["dashboard_session"] = session
        state["dashboard_user"] = user
        state["dashboard_policy"] = policy
        state["csrf_token"] = session.csrf_token(policy.signer)
        state["store_access"] = EVERY_STORE

        path: str = scope["path"]
        if user is None and not path.startswith(_PUBLIC):
            response = self._refuse(scope)
            await self._send_with_cookie(response, scope, receive, send, session if fresh else None)
            return
        if fresh:
            await self.app(scope, receive, self._cookie_sender(send, scope, session))
        else:
            await self.app(scope, receive, send)

    async def _as_key(self, presented: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A request that presented a bearer: a keys-file key's, reaching its stores, or 401."""
        policy = self.policy
        key = policy.key_for(presented)
        scope["scheme"], scope["client"] = policy.scheme(scope), (policy.client_address(scope), 0)
        if key is None:
            message = "The bearer key is not one of this deployment's keys."
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            await self._message(scope, message, 401, headers)(scope, receive, send)
            return
        session = policy.key_session(key)
        state = scope.setdefault("state", {})
        state["dashboard_session"] = session
        state["dashboard_user"] = session.user
        state["dashboard_policy"] = policy
        state["csrf_token"] = session.csrf_token(policy.signer)
        state["store_access"] = key.access
        await self.app(scope, receive, send)

    @staticmethod
    def _message(scope: Scope, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
        """``message`` as JSON for feeds and API callers, as text for a browser."""
        path: str = scope["path"]
        wants_html = "text/html" in Headers(scope=scope).get("accept", "")
        if path.endswith((".json", "/events")) or not wants_html:
            return JSONResponse({"error": message}, status, headers)
        return PlainTextResponse(message, status, headers)

    def _refuse(self, scope: Scope) -> Response:
        policy = self.policy
        path: str = scope["path"]
        wants_html = "text/html" in Headers(scope=scope).get("accept", "")
        if policy.mode == "password" and scope["method"] in ("GET", "HEAD") and wants_html:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
        status = 401 if policy.mode in ("password", "proxy") else 403
        message = (
            "Sign in first: open /app/login."
            if policy.mode == "password"
            else (
                f"Sign in through the proxy that sets {policy.proxy_header}."
                if policy.mode == "proxy"
                else policy.why_locked()
            )
        )
        return self._message(scope, message, status)

    def _revoking_sender(self, send: Send, session: Session, shared: SessionRevocations | None) -> Send:
        """Revoke ``session`` when the response replaces it with another (logout, login), so a
        copy of the old cookie stops working."""
        prefix = f"{SESSION_COOKIE}=".encode()

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", []):
                    if key.lower() == b"set-cookie" and value.startswith(prefix):
                        token = value[len(prefix) :].split(b";", 1)[0].decode("latin-1")
                        new = self.policy.signer.loads(token, now=self.policy.clock())
                        if new is None or new.sid != session.sid:
                            await self.policy.revoke(session, shared)
            await send(message)

        return sender

    def _cookie_sender(self, send: Send, scope: Scope, session: Session) -> Send:
        header = self.policy.cookie(session, secure=scope.get("scheme") == "https").encode("latin-1")

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"set-cookie" and v.startswith(SESSION_COOKIE.encode()) for k, v in headers):
                    headers.append((b"set-cookie", header))
                message = {**message, "headers": headers}
            await send(message)

        return sender

    async def _send_with_cookie(
        self, response: Response, scope: Scope, receive: Receive, send: Send, session: Session | None
    ) -> None:
        await response(scope, receive, self._cookie_sender(send, scope, session) if session else send)


class CsrfError(Exception):
    """A state-changing form arrived without this session's token."""


async def require_csrf(request: Request) -> dict[str, str]:
    """Check the form's CSRF token against the session; return the form's fields."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = request.scope.get("state", {}).get("csrf_token")
    given = fields.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        raise CsrfError("The form's security token is missing or stale; reload the page and try again.")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected_origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected_origin:
            raise CsrfError("The form was sent from another site.")
    return fields


def _revocations(scope: Scope) -> SessionRevocations | None:
    """PostgreSQL's revocations when the deployment has a database (every replica sees a logout)."""
    app = scope.get("app")
    database = database_of(app.state) if app is not None and hasattr(app, "state") else None
    return SessionRevocations(database) if database is not None else None
