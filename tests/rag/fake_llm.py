"""A fake OpenAI-compatible endpoint: answers from the prompt, records which model was asked."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class FakeLLM:
    def __init__(self, *, small_knows: bool = True, fail_first: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.small_knows = small_knows
        self.fail_first = fail_first
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append({"model": body["model"], "auth": request.headers.get("authorization"), "body": body})
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"error": {"message": "overloaded"}}, 503)
        prompt = body["messages"][-1]["content"]
        if body["model"] == "small-model" and not self.small_knows:
            content = "NO_ANSWER"
        else:
            first = re.search(r"\[1\] [^\n]*\n([^\n]+)", prompt)
            content = f"{first.group(1) if first else 'No passages.'} [1]"
        return JSONResponse({"choices": [{"message": {"role": "assistant", "content": content}}]})
