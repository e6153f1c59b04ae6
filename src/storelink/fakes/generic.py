"""A tiny generic upstream for the core's own tests and demos.

``GET /v1/items`` (paged, with ``ETag`` and ``Last-Modified``, answering 304 to a matching
validator), ``GET /v1/items/{id}``, ``POST /v1/messages`` (a write that counts deliveries and
honours ``Idempotency-Key`` when told to), ``GET /v1/slow?seconds=``; bearer-token auth.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.fakes.base import FakeUpstream
from storelink.fakes.faults import FaultPlan

__all__ = ["GenericFake"]

_LAST_MODIFIED = "Tue, 24 Nov 2026 08:00:00 GMT"


class GenericFake(FakeUpstream):
    name = "generic"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        tokens: frozenset[str] = frozenset({"generic-token"}),
        items: int = 25,
        honour_idempotency: bool = False,
    ) -> None:
        super().__init__(faults=faults)
        self.tokens = tokens
        self.items: dict[int, dict[str, Any]] = {
            i: {"id": i, "name": f"item {i}", "version": 1} for i in range(1, items + 1)
        }
        self.honour_idempotency = honour_idempotency
        self.deliveries: list[dict[str, Any]] = []
        self._idempotent: dict[str, dict[str, Any]] = {}
        self.conditional_hits = 0

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/items", self.list_items, methods=["GET"]),
            Route("/v1/items/{item_id:int}", self.get_item, methods=["GET"]),
            Route("/v1/messages", self.send_message, methods=["POST"]),
            Route("/v1/slow", self.slow, methods=["GET"]),
        ]

    def touch(self, item_id: int) -> None:
        """Change an item, so validators change."""
        self.items[item_id]["version"] += 1

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") in self.tokens:
            return None
        return JSONResponse({"error": {"code": 401, "message": "Invalid or expired token."}}, 401)

    def _conditional(self, request: Request, payload: Any) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            self.conditional_hits += 1
            return Response(status_code=304, headers={"ETag": etag, "Last-Modified": _LAST_MODIFIED})
        return Response(body, media_type="application/json", headers={"ETag": etag, "Last-Modified": _LAST_MODIFIED})

    async def list_items(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", "10"))
        ids = sorted(self.items)
        chunk = ids[(page - 1) * per_page : page * per_page]
        has_next = page * per_page < len(ids)
        payload = {"items": [self.items[i] for i in chunk], "next_page": page + 1 if has_next else None}
        return self._conditional(request, payload)

    async def get_item(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        item = self.items.get(request.path_params["item_id"])
        if item is None:
            return JSONResponse({"error": {"code": 404, "message": "No such item."}}, 404)
        return self._conditional(request, item)

    async def send_message(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        key = request.headers.get("idempotency-key")
        if self.honour_idempotency and key and key in self._idempotent:
            return JSONResponse(self._idempotent[key], 201)
        message = await request.json()
        self.deliveries.append(message)
        result = {"id": len(self.deliveries), "delivered": True}
        if key:
            self._idempotent[key] = result
        return JSONResponse(result, 201)

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        return JSONResponse({"ok": True})
