"""The MCP-facing functions: search, fetch, site_answer (bounded, typed, failing as ConnectorError)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.site import SiteFake
from storelink.rag import tools
from tests.rag.conftest import SITE, open_kb


async def test_search_fetch_and_answer(tmp_path: Path) -> None:
    async with open_kb(tmp_path, SiteFake(products=8)) as kb:
        # Mock mode, nothing ingested yet: the first search ingests the demo site.
        found = await tools.search(kb, tools.SearchParams(query="restocking fee special order", limit=3))
        assert kb.docs.page_count() > 50
        assert found.retrieval == "lexical" and 1 <= len(found.results) <= 3
        by_url = {r.url: r for r in found.results}
        assert f"{SITE}/policies/returns" in by_url
        top = by_url[f"{SITE}/policies/returns"]
        assert top.title == "Returns and refunds"
        assert len(top.text) <= tools.MAX_SNIPPET and top.id.startswith("p-")

        page = await tools.fetch(kb, tools.FetchParams(id=top.id))
        assert page.url == top.url and "15 % restocking fee" in page.text
        assert "Subscribe" not in page.text and "Cart (0)" not in page.text  # boilerplate left behind
        assert page.metadata["etag"].startswith('"')
        same = await tools.fetch(kb, tools.FetchParams(id=f"{SITE}/policies/returns/"))
        assert same.id == page.id

        answer = await tools.site_answer(kb, tools.SiteAnswerParams(question="Is there a restocking fee?"))
        assert answer.route == "retrieval" and "15 %" in answer.answer

        with pytest.raises(ConnectorError) as missing:
            await tools.fetch(kb, tools.FetchParams(id="p-000000000000"))
        assert missing.value.kind is ErrorKind.NOT_FOUND


def test_parameters_are_bounded() -> None:
    with pytest.raises(ValidationError):
        tools.SearchParams(query="x", limit=tools.MAX_RESULTS + 1)
    with pytest.raises(ValidationError):
        tools.SearchParams(query="")
    with pytest.raises(ValidationError):
        tools.SiteAnswerParams(question="q", unknown=True)  # type: ignore[call-arg]  # an unknown field, on purpose
