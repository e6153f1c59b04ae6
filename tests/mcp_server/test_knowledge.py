"""The site-knowledge tools (`search`, `fetch`, `site_answer`) over MCP, on the demo site.

Lexical-only here: embedding the demo site takes a minute on this hardware; the dense path is
tested in tests/rag."""

from __future__ import annotations

from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # no stubs: types-jsonschema is not a dev dependency
import pytest
from mcp import Client

from storelink.connectors.registry import builtin_connectors
from storelink.mcp_server.server import build_server
from storelink.rag.knowledge import SiteKnowledge
from storelink.runtime import OneStore, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.support.tool_results import answer, first_text, output_schema


@pytest.mark.slow
async def test_search_fetch_and_answer(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_tools="search,fetch,site_answer,storelink_output_schema")
    async with open_runtime(settings, store=EmbeddedStore(None)) as rt:
        rt._knowledge = await SiteKnowledge.open(
            settings, store=rt.store, metrics=rt.metrics, cache=rt.cache, registry=rt.registry, dense=False
        )
        async with Client(build_server(settings, lambda: OneStore(rt), builtin_connectors())) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"search", "fetch", "site_answer", "storelink_output_schema"}
            found = await client.call_tool("search", {"query": "return policy", "limit": 3})
            assert not found.is_error, found.content
            jsonschema.validate(answer(found), await output_schema(client, "search"))
            results = answer(found)["results"]
            assert 1 <= len(results) <= 3
            assert all(r["url"].startswith("https://") for r in results)
            page = await client.call_tool("fetch", {"id": results[0]["id"]})
            assert not page.is_error, page.content
            assert answer(page)["url"] == results[0]["url"]
            assert answer(page)["text"]
            reply = await client.call_tool("site_answer", {"question": "How long do I have to return a part?"})
            assert not reply.is_error, reply.content
            jsonschema.validate(answer(reply), await output_schema(client, "site_answer"))
            pointed = await client.call_tool("site_answer", {"question": "Do new brake pads need bedding in?"})
            assert not pointed.is_error, pointed.content  # the FAQ's pointer, then the page it points at
            jsonschema.validate(answer(pointed), await output_schema(client, "site_answer"))
            assert "Make ten moderate stops" in answer(pointed)["answer"]
            assert [c["url"].rsplit("/", 1)[-1] for c in answer(pointed)["citations"]] == [
                "installation",
                "bedding-in-procedure",
            ]
            missing = await client.call_tool("fetch", {"id": "https://www.apexperformanceparts.example/nope"})
            assert missing.is_error
            assert first_text(missing).startswith("["), missing.content  # [kind] message
            empty = await client.call_tool("search", {"query": ""})
            assert empty.is_error
