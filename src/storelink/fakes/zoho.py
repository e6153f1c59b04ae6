"""A faithful local Zoho Mail API and Zoho accounts (OAuth) server, with the demo store's mailbox.

Contract (api-facts.md §5): every Mail answer is ``{"status": {"code", "description"}, "data": …}``;
the API wants ``Authorization: Zoho-oauthtoken <token>`` (none: 400 ``INVALID_TICKET``; bad or
expired: 401 ``INVALID_OAUTHTOKEN``); ids and times are strings of 64-bit numbers. The token
endpoint ``POST /oauth/v2/token`` answers a bad refresh token or grant code with HTTP **200**
``{"error": "invalid_code"}``, allows 10 token requests per refresh token per 10 minutes (then
400 ``Access Denied`` for the rest of the window) and keeps 10 live access tokens per refresh
token (minting an 11th invalidates the oldest). One app answers both hosts, so mock mode runs
the whole OAuth flow in-process; :attr:`ZohoFake.hosts` records which hosts were called.

The two servers fail independently: :attr:`ZohoFake.faults` (the base class's plan, set by
``STORELINK_FAKE_FAULTS`` and ``PUT /_fake/faults``) spoils Mail API requests only, and
:attr:`ZohoFake.token_faults` (``PUT /_fake/token_faults``) spoils token requests only, with
OAuth-shaped bodies (``{"error": …}``), so a test can fault one without touching the other.

The mailbox belongs to the demo store (``support@…``, alias ``orders@…``): customers asking where
their orders are, about refunds, wrong parts, fitment and stock, and suppliers confirming
restocks, all naming real order numbers, SKUs and products of :func:`~storelink.fakes.data.demo_store`.
Sent mail is delivered once per accepted request (:attr:`ZohoFake.deliveries`) and appears in Sent.
:attr:`ZohoFake.after_delivery` is a second FaultPlan applied *after* a send was delivered, to
model the dangerous case: the upstream acted, and the reply was lost.

Choices where the facts are silent [INF]: the Mail rate block is 429 with the envelope and a
``Retry-After`` (about 30 requests a minute per user, configurable); unknown ids and folders are
404 with ``errorCode`` ``NOT_FOUND``; bad input is 400 ``INVALID_INPUT`` with ``moreInfo``; search
terms combine with ``::``; ``…/messages/{id}/details`` returns the list fields of one message;
the send answer echoes the message with its new ``messageId``.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from storelink.errors import ConfigurationError
from storelink.fakes.base import ADMIN_PREFIX, FakeUpstream, _FaultMiddleware
from storelink.fakes.data import DemoStore, demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.zoho_mailbox import ACCOUNT_ID, ALIAS, FOLDERS, MailMessage, build_mailbox, folder_id, ms

__all__ = [
    "ACCOUNT_ID",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_GRANT_CODE",
    "DEMO_REFRESH_TOKEN",
    "FOLDERS",
    "MailMessage",
    "ZohoFake",
    "build_mailbox",
]

# The fake's public demo credentials (mock mode); not secrets.
DEMO_CLIENT_ID = "1000.STORELINKDEMOCLIENT00000000000"
DEMO_CLIENT_SECRET = "storelink-demo-client-secret"  # noqa: S105
DEMO_REFRESH_TOKEN = "1000.storelinkdemo.refreshtoken0000"  # noqa: S105
DEMO_GRANT_CODE = "1000.storelinkdemo.grantcode0000"
TOKEN_WINDOW_S = 600.0
TOKEN_REQUESTS_PER_WINDOW = 10
LIVE_TOKENS_PER_REFRESH = 10
THROTTLED = "You have made too many requests continuously. Please try again after some time."
TOKEN_PATH = "/oauth/v2/token"  # noqa: S105  (a path, not a password)


# -- the app ---------------------------------------------------------------------------------------------
def envelope(data: Any, code: int = 200, description: str = "success") -> JSONResponse:
    return JSONResponse({"status": {"code": code, "description": description}, "data": data}, code)


def envelope_error(status: int, error_code: str, description: str, more: str | None = None) -> JSONResponse:
    data: dict[str, Any] = {"errorCode": error_code}
    if more:
        data["moreInfo"] = more
    return JSONResponse({"data": data, "status": {"code": status, "description": description}}, status)


@dataclass
class _TokenState:
    requests: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    live: deque[str] = field(default_factory=deque)


class ZohoFake(FakeUpstream):
    name = "zoho"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        refresh_token: str = DEMO_REFRESH_TOKEN,
        grant_codes: Sequence[str] = (DEMO_GRANT_CODE,),
        clock: Callable[[], float] = time.monotonic,
        token_ttl_s: float = 3600.0,
        rate_limit_per_min: int | None = 30,
        store: DemoStore | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults=faults)
        self.wall = wall  # mock mode: the connector's own wall clock (message times)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.grant_codes = set(grant_codes)
        self.clock = clock
        self.token_ttl_s = token_ttl_s
        self.rate_limit_per_min = rate_limit_per_min
        self.store = store or demo_store()
        self.messages: list[MailMessage] = list(build_mailbox(self.store))
        self.tokens: dict[str, float] = {}  # access token -> expiry (fake clock)
        self.token_state = _TokenState()
        self.token_requests = 0
        self.hosts: Counter[str] = Counter()
        self.deliveries: list[dict[str, Any]] = []
        self.after_delivery = FaultPlan()
        self.token_faults = FaultPlan()  # the accounts server's own; the Mail plan never reaches it
        self._api_calls: deque[float] = deque()
        self._minted = 0

    # -- helpers for tests -------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token stops working now (as if an hour had passed)."""
        self.tokens = dict.fromkeys(self.tokens, float("-inf"))

    def nowms(self) -> int:
        return max(int(self.wall() * 1000), ms(self.store.as_of))

    def routes(self) -> list[BaseRoute]:
        account = "/api/accounts/{account_id}"
        return [
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route("/api/accounts", self.accounts, methods=["GET"]),
            Route(account + "/folders", self.folders, methods=["GET"]),
            Route(account + "/messages/view", self.view, methods=["GET"]),
            Route(account + "/messages/search", self.search, methods=["GET"]),
            Route(account + "/messages", self.send, methods=["POST"]),
            Route(account + "/folders/{folder_id}/messages/{message_id}/content", self.content, methods=["GET"]),
            Route(account + "/folders/{folder_id}/messages/{message_id}/details", self.details, methods=["GET"]),
        ]

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        if fault is Fault.EXPIRED_TOKEN:
            return envelope_error(401, "INVALID_OAUTHTOKEN", "Invalid Access")
        if fault is Fault.RATE_LIMITED:
            response = envelope_error(429, "TOO_MANY_REQUESTS", "Too Many Requests")
            response.headers["Retry-After"] = f"{plan.retry_after_s:g}"
            return response
        return envelope_error(int(fault.value), "INTERNAL_SERVER_ERROR", "Internal Error")

    @cached_property
    def app(self) -> ASGIApp:
        """The base app (Mail routes behind :attr:`faults`), with token requests and the token plan's
        admin routes taken aside first: token requests meet :attr:`token_faults` instead."""
        token_side = Starlette(
            routes=[
                Route(f"{ADMIN_PREFIX}/token_faults", self._get_token_faults, methods=["GET"]),
                Route(f"{ADMIN_PREFIX}/token_faults", self._put_token_faults, methods=["PUT"]),
                Route(TOKEN_PATH, self.token, methods=["POST"]),
            ]
        )
        # super().app caches the base app under the same name; this property's value replaces it.
        return _TokenSplit(_FaultMiddleware(token_side, _AccountsServer(self)), super().app)

    async def _get_token_faults(self, request: Request) -> Response:
        return JSONResponse(self.token_faults.to_json())

    async def _put_token_faults(self, request: Request) -> Response:
        try:
            self.token_faults = FaultPlan.from_json(await request.json())
        except (ConfigurationError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.token_faults.to_json())

    # -- OAuth ------------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        self.hosts[request.url.hostname or ""] += 1
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        form = {**dict(request.query_params), **form}
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return JSONResponse({"error": "invalid_client"})
        if grant == "authorization_code":
            if form.get("code") not in self.grant_codes:
                return JSONResponse({"error": "invalid_code"})
            self.grant_codes.discard(form["code"])
            body = self._mint()
            return JSONResponse({**body, "refresh_token": self.refresh_token, "scope": "ZohoMail.messages.ALL"})
        if grant != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"})
        if form.get("refresh_token") != self.refresh_token:
            return JSONResponse({"error": "invalid_code"})
        state = self.token_state
        now = self.clock()
        while state.requests and state.requests[0] <= now - TOKEN_WINDOW_S:
            state.requests.popleft()
        if now < state.blocked_until or len(state.requests) >= TOKEN_REQUESTS_PER_WINDOW:
            state.blocked_until = max(
                state.blocked_until, (state.requests[0] if state.requests else now) + TOKEN_WINDOW_S
            )
            return JSONResponse({"error": "Access Denied", "error_description": THROTTLED}, 400)
        state.requests.append(now)
        self.token_requests += 1
        return JSONResponse(self._mint())

    def _mint(self) -> dict[str, Any]:
        self._minted += 1
        digest = hashlib.sha256(f"{self.refresh_token}:{self._minted}".encode()).hexdigest()
        token = f"1000.{digest[:32]}.{digest[32:64]}"
        self.tokens[token] = self.clock() + self.token_ttl_s
        live = self.token_state.live
        live.append(token)
        while len(live) > LIVE_TOKENS_PER_REFRESH:
            self.tokens.pop(live.popleft(), None)  # the oldest stops working
        return {
            "access_token": token,
            "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl_s),
        }

    # -- the Mail API -------------------------------------------------------------------------------------
    def _guard(self, request: Request) -> Response | None:
        """Auth, account and the per-user rate, in Zoho's order and shapes."""
        self.hosts[request.url.hostname or ""] += 1
        header = request.headers.get("authorization", "")
        if not header.startswith("Zoho-oauthtoken "):
            return envelope_error(400, "INVALID_TICKET", "Invalid Input", "Invalid ticket")
        expiry = self.tokens.get(header.removeprefix("Zoho-oauthtoken ").strip())
        if expiry is None or expiry <= self.clock():
            return envelope_error(401, "INVALID_OAUTHTOKEN", "Invalid Access")
        if self.rate_limit_per_min is not None:
            now = self.clock()
            while self._api_calls and self._api_calls[0] <= now - 60.0:
                self._api_calls.popleft()
            if len(self._api_calls) >= self.rate_limit_per_min:
                response = envelope_error(429, "TOO_MANY_REQUESTS", "Too Many Requests")
                response.headers["Retry-After"] = f"{max(1, round(self._api_calls[0] + 60.0 - now))}"
                return response
            self._api_calls.append(now)
        account = request.path_params.get("account_id")
        if account is not None and account != ACCOUNT_ID:
            return envelope_error(404, "NOT_FOUND", "Not Found", f"No account {account}")
        return None

    async def accounts(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        shop = self.store.shop
        return envelope(
            [
                {
                    "accountId": ACCOUNT_ID,
                    "accountName": shop.name,
                    "displayName": f"{shop.name} Support",
                    "incomingUserName": shop.email,
                    "emailAddress": [
                        {"mailId": shop.email, "isPrimary": True, "isAlias": False, "isConfirmed": True},
                        {"mailId": ALIAS, "isPrimary": False, "isAlias": True, "isConfirmed": True},
                    ],
                    "mailboxStatus": "enabled",
                    "type": "ZOHO_ACCOUNT",
                    "country": "us",
                    "language": "en",
                    "lastLogin": ms(self.store.as_of) - 3_600_000,
                    "usedStorage": 48_213_114,
                }
            ]
        )

    async def folders(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return envelope(
            [
                {"folderId": fid, "folderName": name, "folderType": kind, "path": f"/{name}", "isArchived": 0}
                for fid, name, kind in FOLDERS
            ]
        )

    def _paging(self, request: Request) -> tuple[int, int] | Response:
        try:
            start = int(request.query_params.get("start", "1"))
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "start and limit must be numbers")
        if start < 1 or not 1 <= limit <= 200:
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "start >= 1 and 1 <= limit <= 200")
        return start, limit

    def _page(self, request: Request, found: list[MailMessage], start: int, limit: int) -> Response:
        ascending = request.query_params.get("sortorder", "false").lower() == "true"
        ordered = sorted(found, key=lambda m: (m.received_ms, m.message_id), reverse=not ascending)
        return envelope([m.list_json() for m in ordered[start - 1 : start - 1 + limit]])

    async def view(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        found = self.messages
        folder = request.query_params.get("folderId")
        if folder:
            if folder not in {fid for fid, _, _ in FOLDERS}:
                return envelope_error(404, "NOT_FOUND", "Not Found", f"No folder {folder}")
            found = [m for m in found if m.folder_id == folder]
        status = request.query_params.get("status", "all")
        if status in ("read", "unread"):
            found = [m for m in found if m.unread == (status == "unread")]
        return self._page(request, found, *paging)

    async def search(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        key = request.query_params.get("searchKey", "").strip()
        if not key:
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "searchKey is required")
        before = int(request.query_params.get("receivedTime") or self.nowms() - 120_000)
        found = [m for m in self.messages if m.received_ms < before]
        for term in filter(None, (t.strip() for t in key.split("::"))):
            if term == "newMails":
                found = [m for m in found if m.unread]
                continue
            param, sep, value = term.partition(":")
            matcher = _SEARCH_FIELDS.get(param)
            if not sep or matcher is None:
                return envelope_error(400, "INVALID_INPUT", "Invalid Input", f"unknown search parameter {param!r}")
            needle = value.strip().lower()
            found = [m for m in found if needle in matcher(m).lower()]
        return self._page(request, found, *paging)

    def _message(self, request: Request) -> MailMessage | Response:
        folder, message_id = request.path_params["folder_id"], request.path_params["message_id"]
        found = next((m for m in self.messages if m.message_id == message_id and m.folder_id == folder), None)
        if found is None:
            return envelope_error(404, "NOT_FOUND", "Not Found", f"No message {message_id} in folder {folder}")
        return found

    async def content(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        found = self._message(request)
        if isinstance(found, Response):
            return found
        return envelope({"messageId": found.message_id, "content": found.html})

    async def details(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        found = self._message(request)
        if isinstance(found, Response):
            return found
        return envelope(found.list_json())

    async def send(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        try:
            body = json.loads(await request.body())
        except ValueError:
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "body is not JSON")
        if not isinstance(body, dict):
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "body is not an object")
        sender = str(body.get("fromAddress") or "")
        to = str(body.get("toAddress") or "")
        if sender.lower() not in {self.store.shop.email, ALIAS}:
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "fromAddress is not an address of the account")
        if not to or any("@" not in a for a in to.split(",")):
            return envelope_error(400, "INVALID_INPUT", "Invalid Input", "toAddress is missing or invalid")
        content = str(body.get("content") or "")
        shown = content if body.get("mailFormat", "html") == "html" else html.escape(content).replace("\n", "<br>")
        now = self.nowms()
        message = MailMessage(
            message_id=f"{now}{len(self.messages):06d}",
            folder_id=folder_id("Sent"),
            thread_id=f"{now}{len(self.messages):06d}",
            subject=str(body.get("subject") or ""),
            sender=self.store.shop.name,
            from_address=sender,
            to_address=to,
            cc_address=str(body.get("ccAddress") or ""),
            received_ms=now,
            html=shown,
            unread=False,
        )
        self.messages.append(message)
        self.deliveries.append(body)
        lost = await self._after_delivery()
        if lost is not None:
            return lost
        return envelope(
            {
                "messageId": message.message_id,
                "subject": message.subject,
                "fromAddress": sender,
                "toAddress": to,
                "ccAddress": message.cc_address,
                "mailFormat": body.get("mailFormat", "html"),
                "askReceipt": body.get("askReceipt", "no"),
                "sentDateInGMT": str(now),
            }
        )

    async def _after_delivery(self) -> Response | None:
        """The reply to a delivered send, spoiled as :attr:`after_delivery` says."""
        plan = self.after_delivery
        fault = plan.next_fault()
        if fault is Fault.OK:
            return None
        if fault is Fault.STALL:
            await asyncio.sleep(plan.stall_s)
            return JSONResponse({"error": "stalled"}, 504)
        if fault in (Fault.MALFORMED, Fault.TRUNCATED, Fault.RESET):
            return Response(b'{"status": {"code": 200', 200, media_type="application/json")
        return self.fault_response(fault, plan)


class _AccountsServer(FakeUpstream):
    """The fault middleware's view of the accounts server: the token plan, the fake's request
    counts, and errors in the OAuth shape (``{"error": …}``) rather than the Mail envelope."""

    name = "zoho_accounts"

    def __init__(self, fake: ZohoFake) -> None:  # no super().__init__: plan and counts are the fake's
        self.fake = fake
        self.stats = fake.stats

    @property
    def faults(self) -> FaultPlan:
        return self.fake.token_faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self.fake.token_faults = plan

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        if fault is Fault.RATE_LIMITED:
            return JSONResponse({"error": "Too Many Requests"}, 429, headers={"Retry-After": f"{plan.retry_after_s:g}"})
        if fault is Fault.EXPIRED_TOKEN:
            return JSONResponse({"error": "invalid_client"}, 401)
        return JSONResponse({"error": "Internal Server Error"}, int(fault.value))


class _TokenSplit:
    """Token requests (and the token plan's admin routes) to one app, everything else to the other."""

    PATHS = frozenset({TOKEN_PATH, f"{ADMIN_PREFIX}/token_faults"})

    def __init__(self, token_side: ASGIApp, rest: ASGIApp) -> None:
        self.token_side = token_side
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.PATHS:
            await self.token_side(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


_SEARCH_FIELDS: dict[str, Callable[[MailMessage], str]] = {
    "entire": lambda m: " ".join((m.subject, m.sender, m.from_address, m.to_address, m.text)),
    "content": lambda m: m.text,
    "sender": lambda m: f"{m.sender} {m.from_address}",
    "to": lambda m: m.to_address,
    "cc": lambda m: m.cc_address,
    "subject": lambda m: m.subject,
}
