"""The base of every fake upstream: an ASGI app, a FaultPlan in front of it, admin routes beside it.

A fake runs in-process (mock mode and unit tests, through :class:`InProcessTransport`) or as a
real server on loopback (``storelink fakes serve``); the same app serves both. Subclasses give
their routes and, where the upstream has its own error bodies, override :meth:`fault_response`.

Admin routes (never subject to faults)::

    GET  /_fake/faults     the current plan and how many faults it injected
    PUT  /_fake/faults     replace the plan: {"rates": {"429": 0.1}, "script": ["500", "ok"], ...}
    GET  /_fake/stats      requests seen per route
    POST /_fake/reset      clear stats and faults
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import cached_property
from typing import ClassVar

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.errors import ConfigurationError
from storelink.fakes.faults import Fault, FaultPlan

__all__ = ["FakeConnectionReset", "FakeUpstream", "InProcessTransport"]

ADMIN_PREFIX = "/_fake"


class FakeConnectionReset(Exception):
    """Raised by a fake to drop the connection after the response started."""


class FakeUpstream:
    """Subclass and implement :meth:`routes`. ``name`` is the fake's name in specs and URLs."""

    name: ClassVar[str] = "fake"

    def __init__(self, *, faults: FaultPlan | None = None) -> None:
        self.faults = faults or FaultPlan()
        self.stats: Counter[str] = Counter()

    # -- to override ---------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        """The response an injected status fault produces, in this upstream's error shape."""
        status = int(fault.value)
        headers = {"Retry-After": f"{plan.retry_after_s:g}"} if status == 429 else {}
        messages = {
            401: "The access token expired or is invalid.",
            429: "Too many requests.",
        }
        message = messages.get(status, "Internal error (injected).")
        return JSONResponse({"error": {"code": status, "message": message}}, status, headers=headers)

    # -- the app ---------------------------------------------------------------------------------
    @cached_property
    def app(self) -> ASGIApp:
        admin: list[BaseRoute] = [
            Route(f"{ADMIN_PREFIX}/faults", self._get_faults, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/faults", self._put_faults, methods=["PUT"]),
            Route(f"{ADMIN_PREFIX}/stats", self._get_stats, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/reset", self._reset, methods=["POST"]),
        ]
        inner = Starlette(routes=admin + self.routes())
        return _FaultMiddleware(inner, self)

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.to_json())

    async def _put_faults(self, request: Request) -> Response:
        try:
            self.faults = FaultPlan.from_json(await request.json())
        except (ConfigurationError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.faults.to_json())

    async def _get_stats(self, request: Request) -> Response:
        return JSONResponse({"requests": dict(self.stats), "faults": self.faults.injected})

    async def _reset(self, request: Request) -> Response:
        self.stats.clear()
        self.faults = FaultPlan()
        return JSONResponse({"ok": True})


class _FaultMiddleware:
    """Pure ASGI, so it costs almost nothing when the plan injects nothing."""

    def __init__(self, app: ASGIApp, fake: FakeUpstream) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        self.fake.stats[f"{scope['method']} {scope['path']}"] += 1
        plan = self.fake.faults
        fault = plan.next_fault()
        if fault is Fault.OK:
            await self.app(scope, receive, send)
        elif fault is Fault.STALL:
            await asyncio.sleep(plan.stall_s)
            await JSONResponse({"error": "stalled"}, 504)(scope, receive, send)
        elif fault is Fault.RESET:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
            raise FakeConnectionReset("connection reset by the fake (injected)")
        elif fault is Fault.MALFORMED:
            await Response(b'{"data": [1, 2', 200, media_type="application/json")(scope, receive, send)
        elif fault is Fault.TRUNCATED:
            await self._truncated(scope, receive, send)
        else:
            await self.fake.fault_response(fault, plan)(scope, receive, send)

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the real handler, then send only half the body it promised."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": False})


class InProcessTransport(httpx2.ASGITransport):
    """Run a fake in-process, with the wire's failure modes kept.

    A plain ASGI transport has no wire: a dropped connection would surface as the app's own
    exception, a short body would pass unnoticed and a stalled app would hang forever. Here they
    become the httpx2 errors a real socket produces (``ReadError``, ``RemoteProtocolError``,
    ``ReadTimeout`` after the request's read timeout), so the client code under test handles
    exactly what it will meet live.
    """

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = request.extensions.get("timeout") or {}
        read_timeout = timeouts.get("read")
        try:
            if read_timeout is None:
                response = await super().handle_async_request(request)
            else:
                async with asyncio.timeout(read_timeout):
                    response = await super().handle_async_request(request)
        except TimeoutError as exc:
            raise httpx2.ReadTimeout("timed out waiting for the in-process upstream", request=request) from exc
        except FakeConnectionReset as exc:
            raise httpx2.ReadError("Server disconnected without sending a complete response", request=request) from exc
        body = await response.aread()
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and len(body) < int(declared):
            raise httpx2.RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                f"received {len(body)} bytes, expected {declared}",
                request=request,
            )
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )
