"""The runtime's background warm-up of site knowledge (STORELINK_SITE_WARM_UP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storelink.rag.knowledge import SiteKnowledge
from storelink.runtime import Runtime, open_runtime
from storelink.settings import SiteKnobs
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


async def lexical_knowledge(rt: Runtime) -> SiteKnowledge:
    """The runtime's knowledge base, opened lexical-only (the embedding pass is rag's own test)."""
    kb = await SiteKnowledge.open(rt.settings, store=rt.store, metrics=rt.metrics, cache=rt.cache, dense=False)
    rt._knowledge = kb
    return kb


async def test_warm_up_ingests_the_demo_site_before_anyone_asks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_force_mocks=True, site=SiteKnobs(warm_up=True))
    async with open_runtime(settings, connectors=[], store=EmbeddedStore(None)) as rt:
        kb = await lexical_knowledge(rt)
        assert kb.mode == "mock" and kb.docs.page_count() == 0
        async with rt.warming_up():
            for _ in range(1200):  # up to 60 s on a loaded machine; about 5 s idle
                if kb.docs.get_json("last_ingest"):
                    break
                await asyncio.sleep(0.05)
            pages = kb.docs.page_count()
        assert pages > 100  # the demo site, ingested with no search made
        passages, _ = await kb.search("brake pads")
        assert passages


async def test_no_warm_up_when_turned_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mcp_force_mocks=True, site=SiteKnobs(warm_up=False))
    async with open_runtime(settings, connectors=[], store=EmbeddedStore(None)) as rt:
        kb = await lexical_knowledge(rt)
        async with rt.warming_up():
            await asyncio.sleep(0.5)
        assert kb.docs.page_count() == 0
