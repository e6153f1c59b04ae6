"""The warm-up seen from outside: a search that arrives while it ingests answers at once with how
far it got (not after the 20-50 s ingest), the log says when it finished, and its state is kept
in the embedded store for `storelink health` in another process."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.rag.knowledge import SiteKnowledge
from storelink.runtime import open_runtime
from storelink.settings import SiteKnobs
from storelink.store import EmbeddedStore
from storelink.warm_up import load_warm_up
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


async def test_a_search_during_the_warm_up_answers_at_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="storelink")
    settings = make_settings(tmp_path, mcp_force_mocks=True, site=SiteKnobs(warm_up=True))
    store = EmbeddedStore(None)
    async with open_runtime(settings, connectors=[], store=store) as rt:
        # Lexical only (the embedding pass is rag's own test), opened as the shared base would be.
        kb = await SiteKnowledge.open(rt.settings, store=rt.store, metrics=rt.metrics, cache=rt.cache, dense=False)
        kb.busy = rt.site.busy
        rt.site._base = kb
        status = rt.site.warm_up
        loop = asyncio.get_running_loop()
        async with rt.warming_up():
            for _ in range(1200):
                if status.step.startswith("ingested"):
                    break
                await asyncio.sleep(0.05)
            assert status.warming and load_warm_up(store) is not None
            asked = loop.time()
            with pytest.raises(ConnectorError) as refused:
                await (await rt.knowledge()).search("brake pads")
            assert loop.time() - asked < 1.0
            assert refused.value.kind is ErrorKind.UNAVAILABLE and refused.value.retryable
            assert re.search(r"still warming up \(ingested \d+ of \d+ pages, \d+ s so far\)", refused.value.message)
            for _ in range(1200):
                if not status.warming:
                    break
                await asyncio.sleep(0.05)
        assert status.state == "ready" and (status.pages or 0) > 100
        passages, _ = await (await rt.knowledge()).search("brake pads")
        assert passages
        saved = load_warm_up(store)
        assert saved is not None and saved.state == "ready" and saved.pages == status.pages
    assert any(re.match(r"site knowledge ready: [\d,]+ pages", r.getMessage()) for r in caplog.records)
