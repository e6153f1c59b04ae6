"""The router: corrections win, live intents go to connectors, retrieval answers with citations,
and synthesis goes to the small or the large model of an OpenAI-compatible endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.site import SiteFake
from storelink.observability.metrics import Metrics
from storelink.rag.knowledge import SiteKnowledge
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.rag.conftest import SITE, open_kb
from tests.rag.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def site() -> SiteFake:
    return SiteFake(products=10)


@pytest.fixture
async def kb(tmp_path: Path, site: SiteFake) -> AsyncIterator[SiteKnowledge]:
    async with open_kb(tmp_path, site) as opened:
        await opened.ingest()
        yield opened


async def test_retrieval_answers_with_citations(kb: SiteKnowledge) -> None:
    answer = await kb.answer("How long do I have to return a part?")
    assert answer.route == "retrieval" and answer.retrieval_mode == "lexical"
    assert "30 days" in answer.answer
    assert answer.citations[0].url in {f"{SITE}/policies/returns", f"{SITE}/pages/faq/returns"}
    assert answer.passages and answer.synthesized_by is None


async def test_a_correction_wins_over_retrieval(kb: SiteKnowledge) -> None:
    question = "What is the shipping cut-off for Christmas delivery?"
    passages, _ = await kb.search(question, 3)
    assert passages and "December 17" not in " ".join(p.text for p in passages)  # retrieval would say otherwise
    answer = await kb.answer(question)
    assert answer.route == "correction" and answer.correction_id == "holiday-cutoff-2026"
    assert "December 17" in answer.answer
    assert [c.url for c in answer.citations] == [f"{SITE}/policies/shipping"]
    hits = kb.docs.correction_hits()
    assert hits[-1][1] == "holiday-cutoff-2026" and hits[-1][2] == question


async def test_corrections_file_in_the_data_dir_replaces_the_packaged_one(tmp_path: Path, site: SiteFake) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "corrections.yaml").write_text(
        "corrections:\n  - id: closed\n    patterns: ['\\bopen\\b.*\\bsunday']\n"
        "    answer: We are closed on Sundays.\n    sources: [{url: /pages/contact, title: Contact}]\n"
    )
    async with open_kb(tmp_path, site, settings=settings) as opened:
        answer = await opened.answer("Are you open on Sunday?")
    assert answer.route == "correction" and answer.answer == "We are closed on Sundays."
    assert answer.citations[0].url == f"{SITE}/pages/contact"


async def test_live_intent_without_its_connector_falls_back_to_retrieval(kb: SiteKnowledge) -> None:
    answer = await kb.answer("How many orders did we get yesterday?")
    assert answer.route == "retrieval"
    assert answer.live is not None and answer.live.connector == "shopify" and answer.live.params == {"days": 1}
    assert "not available" in answer.notes[0]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(
        make_settings(tmp_path), connectors=[ShopifyConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        yield rt


async def test_live_intent_is_answered_by_the_connector(tmp_path: Path, site: SiteFake, runtime: Runtime) -> None:
    async with open_kb(tmp_path, site, registry=runtime.registry, store=runtime.store) as opened:
        answer = await opened.answer("How many orders did we get yesterday?")
        policy = await opened.answer("Can I change my order after placing it?")
    assert answer.route == "live" and answer.live is not None
    assert (answer.live.connector, answer.live.operation) == ("shopify", "sales_summary")
    totals = answer.live.data["totals"]
    assert f"{totals['orders']} orders" in answer.answer and totals["orders"] > 0
    assert policy.route == "retrieval"  # "my order" is a policy question, not a sales figure


async def test_search_queries_intent_names_search_console(kb: SiteKnowledge) -> None:
    answer = await kb.answer("What are our top search queries this month?")
    assert answer.live is not None
    assert (answer.live.connector, answer.live.operation) == ("gsc", "search_analytics")


# -- synthesis ----------------------------------------------------------------------------------------


async def _synth_kb(tmp_path: Path, site: SiteFake, llm: FakeLLM) -> SiteKnowledge:
    settings = make_settings(
        tmp_path,
        llm_base_url="https://llm.test/v1",
        llm_api_key="sk-test-123",
        llm_model_small="small-model",
        llm_model_large="large-model",
    )
    kb = await SiteKnowledge.open(
        settings,
        store=EmbeddedStore(None),
        transport=InProcessTransport(site.app),
        llm_transport=InProcessTransport(llm.app),
        dense=False,
    )
    await kb.ingest()
    return kb


@pytest.mark.looptime
async def test_short_questions_go_to_the_small_model(tmp_path: Path, site: SiteFake) -> None:
    llm = FakeLLM(fail_first=1)  # one 503: the pipeline retries it
    kb = await _synth_kb(tmp_path, site, llm)
    try:
        answer = await kb.answer("Is there a restocking fee?")
    finally:
        await kb.aclose()
    assert answer.synthesized_by == "small-model" and answer.route == "retrieval"
    assert [c["model"] for c in llm.calls] == ["small-model", "small-model"]
    assert llm.calls[-1]["auth"] == "Bearer sk-test-123"
    assert answer.answer.endswith("[1]") and answer.citations[0].url == answer.passages[0].url


@pytest.mark.looptime
async def test_long_or_escalated_questions_go_to_the_large_model(tmp_path: Path, site: SiteFake) -> None:
    llm = FakeLLM()
    kb = await _synth_kb(tmp_path, site, llm)
    try:
        long_question = (
            "I bought brake pads last month and I would like to know " + "really " * 20 + "what the return rules are"
        )
        long = await kb.answer(long_question)
        escalated = await kb.answer("Is there a restocking fee?", escalate=True)
    finally:
        await kb.aclose()
    assert long.synthesized_by == "large-model" and escalated.synthesized_by == "large-model"
    assert [c["model"] for c in llm.calls] == ["large-model", "large-model"]


@pytest.mark.looptime
async def test_small_model_without_an_answer_escalates(tmp_path: Path, site: SiteFake) -> None:
    llm = FakeLLM(small_knows=False)
    kb = await _synth_kb(tmp_path, site, llm)
    try:
        answer = await kb.answer("Is there a restocking fee?")
    finally:
        await kb.aclose()
    assert [c["model"] for c in llm.calls] == ["small-model", "large-model"]
    assert answer.synthesized_by == "large-model" and "escalated to the large model" in answer.notes


@pytest.mark.looptime
async def test_a_failing_endpoint_falls_back_to_the_extractive_answer(tmp_path: Path, site: SiteFake) -> None:
    llm = FakeLLM(fail_first=10)
    kb = await _synth_kb(tmp_path, site, llm)
    try:
        answer = await kb.answer("Is there a restocking fee?")
    finally:
        await kb.aclose()
    assert answer.synthesized_by is None and "15 %" in answer.answer
    assert any("synthesis failed (unavailable)" in n for n in answer.notes)
    assert not any("sk-test-123" in n for n in answer.notes)


async def test_an_answer_that_points_at_a_page_cites_the_page_and_quotes_it(kb: SiteKnowledge) -> None:
    answer = await kb.answer("Do new brake pads need bedding in?")

    assert answer.route == "retrieval"
    assert "Follow our bedding-in procedure" in answer.answer  # the FAQ's answer points at the procedure
    assert "Make ten moderate stops" in answer.answer  # which is quoted from its own page
    cited = [c.url for c in answer.citations]
    assert f"{SITE}/pages/bedding-in-procedure" in cited and len(cited) == 2
    # [n] is the n-th citation, whatever place its passage had: the procedure's page was appended last
    before, after = answer.answer.split("Make ten moderate stops")
    assert before.rstrip().endswith("[1]") and after.rstrip().endswith("[2]"), answer.answer
    assert cited[1] == f"{SITE}/pages/bedding-in-procedure"
    assert answer.passages is not None and f"{SITE}/pages/bedding-in-procedure" in {p.url for p in answer.passages}
