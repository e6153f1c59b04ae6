"""Answer selection: the sentence that answers, cited on its own page, or "not found"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from storelink.rag.docstore import ChunkRow, KnowledgeStore, PageRow
from storelink.rag.embed import Embedder, Vectors
from storelink.rag.extractive import AnswerSelector, AnswerWeights, extractive_answer, stand_out_confidence
from storelink.rag.models import Passage
from storelink.store import EmbeddedStore

TOPICS = ("storage", "filter", "card", "gift", "ship")


class TopicEmbedder(Embedder):
    """A vector per topic word, so meaning is whatever the test says it is."""

    model_id = "topics"
    dim = len(TOPICS) + 1

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            lower = text.lower()
            for j, word in enumerate(TOPICS):
                out[i, j] = float(word in lower or (word == "storage" and "winter" in lower))
            out[i, -1] = 0.2
            out[i] /= np.linalg.norm(out[i])
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _passage(n: int, url: str, title: str, text: str) -> Passage:
    return Passage(id=f"c{n}", page_id=f"p{n}", url=url, title=title, heading=title, text=text, score=1.0)


PASSAGES = [
    _passage(1, "https://shop/guides/intakes", "Air intakes", "Filter care\nRe-oil the filter every 15,000 miles."),
    _passage(2, "https://shop/blog/winter", "Winter storage", "Before storage\nChange the oil, add fuel stabiliser."),
]


def test_the_model_picks_the_sentence_that_answers_and_cites_its_page() -> None:
    embedder = TopicEmbedder()
    selector = AnswerSelector(AnswerWeights(lexical=0.2, min_score=0.5), embedder=embedder)
    found = selector.select("how should I put my car away over winter", PASSAGES)
    assert found is not None and found.found
    assert "fuel stabiliser" in found.text and found.text.endswith("[2]")
    assert found.cited == [1]  # the winter post, not the intake guide ranked above it
    calls = embedder.calls
    selector.select("how should I put my car away over winter", PASSAGES)
    assert embedder.calls == calls + 1  # sentences come from the cache; only the question is embedded


def test_below_the_threshold_there_is_no_answer() -> None:
    selector = AnswerSelector(AnswerWeights(min_score=0.9), embedder=TopicEmbedder())
    found = selector.select("is my card number kept on your servers", PASSAGES)
    assert found is not None and not found.found


def test_without_the_model_the_words_decide() -> None:
    text, cited = extractive_answer("How often should the intake filter be re-oiled?", PASSAGES)
    assert "15,000 miles" in text and cited == [0]
    assert extractive_answer("", PASSAGES) == ("", [])


def test_sentence_vectors_for_retrieval_come_only_from_what_was_warmed() -> None:
    from storelink.rag.docstore import ChunkRow, KnowledgeStore
    from storelink.store import EmbeddedStore

    embedder = TopicEmbedder()
    selector = AnswerSelector(AnswerWeights(), embedder=embedder, docs=KnowledgeStore(EmbeddedStore(None)))
    warmed = ChunkRow(
        "c1", "https://s/a", 0, "Winter", "Storage", "Fill the tank before storage. Gift cards never expire.", "a", 9
    )
    cold = ChunkRow("c2", "https://s/b", 0, "Filters", "Care", "Clean the filter every year.", "b", 6)
    assert selector.warm([warmed]) == 2
    calls = embedder.calls
    found = selector.chunk_sentences([warmed, cold])
    assert embedder.calls == calls  # nothing embedded while answering a query
    assert set(found) == {"c1"} and found["c1"].shape == (2, embedder.dim)


def test_a_question_asking_for_a_kind_of_answer_takes_a_sentence_that_states_one() -> None:
    care = "Filter care\nThe filter is washable oiled cotton. Re-oil the filter every 15,000 miles."
    filter_page = [_passage(1, "https://shop/guides/intakes", "Air intakes", care)]
    question = "how often should the filter get oil"
    plain = AnswerSelector(AnswerWeights(), embedder=TopicEmbedder()).select(question, filter_page)
    typed = AnswerSelector(AnswerWeights(type_miss=0.2), embedder=TopicEmbedder()).select(question, filter_page)
    assert plain is not None and typed is not None
    # Both sentences are about the filter alike; only one says how often.
    assert plain.text.startswith("The filter is washable")  # the block, from its first sentence
    assert "every 15,000 miles" in typed.text


def test_a_question_naming_a_country_is_not_answered_from_a_block_about_another() -> None:
    policy = (
        "Free shipping\nStandard shipping is free on US orders over $99.\n\n"
        "International\nWe ship to Canada and Australia with DHL Express."
    )
    page = [_passage(1, "https://shop/policies/shipping", "Shipping policy", policy)]
    plain = AnswerSelector(AnswerWeights(lexical=0.0), embedder=TopicEmbedder())
    weighed = AnswerSelector(AnswerWeights(lexical=0.0, type_miss=0.2), embedder=TopicEmbedder())
    # Both blocks mean shipping alike (and words count for nothing): without the penalty the first answers.
    assert (found := plain.select("do you ship to australia", page)) and found.text.startswith("Standard")
    assert (found := weighed.select("do you ship to australia", page)) and found.text.startswith("We ship")
    assert (found := weighed.select("do you ship to the uk", page)) and found.text.startswith("Standard")  # both miss
    assert (found := weighed.select("is shipping free", page)) and found.text.startswith("Standard")  # none named


def test_the_confidence_is_how_far_the_best_stands_out() -> None:
    assert stand_out_confidence([0.6, 0.3, 0.3, 0.2, 0.1], 1.0) == pytest.approx(1.1)
    assert stand_out_confidence([0.6, 0.59, 0.58, 0.58, 0.57], 1.0) == pytest.approx(0.63)
    assert stand_out_confidence([0.6, 0.2], 0.5) == pytest.approx(0.8)  # fewer than five: the last
    assert stand_out_confidence([0.6], 0.5) == pytest.approx(0.6)


def test_a_near_miss_among_sentences_about_the_same_thing_is_not_found() -> None:
    """The same best cosine: one sentence on the topic among others is an answer; one among many
    on the topic (a question the page does not answer, asked about what it is about) is not."""
    weights = AnswerWeights(lexical=0.0, stand_out=1.0, min_score=1.5)
    alone_text = "Payments\nGift card balances never expire. We ship daily. Returns take 30 days. Filters wash."
    crowded_text = (
        "Payments\nGift card balances never expire. Gift cards come by e-mail. "
        "Gift cards start at $25. A gift card pays for shipping."
    )
    alone = [_passage(1, "https://shop/cards", "Payments", alone_text)]
    crowded = [_passage(1, "https://shop/cards", "Payments", crowded_text)]
    selector = AnswerSelector(weights, embedder=TopicEmbedder())
    found, missed = selector.select("do gift cards expire", alone), selector.select("do gift cards expire", crowded)
    assert found is not None and missed is not None
    assert found.score == pytest.approx(missed.score)
    assert found.found and not missed.found
    assert found.confidence > missed.confidence


def _stored_page(docs: KnowledgeStore, url: str, title: str, text: str, links: Sequence[tuple[str, str]] = ()) -> None:
    page = PageRow(url=url, id=url, title=title, text=text, content_sha="", etag=None, last_modified=None,
                   fetched_at=0.0)  # fmt: skip
    docs.save_page(page, [ChunkRow(f"c-{url}", url, 0, title, title, text, "", 10)], links)


def test_a_sentence_that_points_at_a_page_is_followed_by_the_pages_answer(tmp_path: Path) -> None:
    docs = KnowledgeStore(EmbeddedStore(tmp_path / "kb.db"))
    post, guide = "https://shop/blog/winter", "https://shop/guides/storage"
    _stored_page(docs, post, "Winter storage", "Before storage\nRead our storage guide first.",
                 [("storage guide", guide)])  # fmt: skip
    _stored_page(docs, guide, "Storage guide", "Steps\nChange the oil, add fuel stabiliser to the tank.")
    selector = AnswerSelector(AnswerWeights(min_score=0.5), embedder=TopicEmbedder(), docs=docs)
    passages = [_passage(1, post, "Winter storage", "Before storage\nRead our storage guide first.")]

    found = selector.select("how should I put my car away over winter", passages)

    assert found is not None and found.found
    assert found.text == "Read our storage guide first. [1] Change the oil, add fuel stabiliser to the tank. [2]"
    assert found.cited == [0, 1]
    assert found.followed is not None and found.followed.url == guide  # cited after the passages
    assert [p.url for p in found.passages_with(passages)] == [post, guide]  # what cited indexes
    without_links = AnswerSelector(AnswerWeights(min_score=0.5), embedder=TopicEmbedder())
    plain = without_links.select("how should I put my car away over winter", passages)
    assert plain is not None and plain.text == "Read our storage guide first. [1]" and plain.followed is None
