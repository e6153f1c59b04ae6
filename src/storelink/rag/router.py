"""The router: who answers a question, in a fixed order.

1. **Corrections** (``corrections.yaml``): an operator's curated answer wins over everything.
2. **Live-data intents** (:mod:`storelink.rag.intents`): "orders yesterday" goes to Shopify's
   ``sales_summary``, "top queries" to Search Console's ``search_analytics``. When the connector
   is missing or fails, the router says so in ``notes`` and falls through to retrieval.
3. **Retrieval**: hybrid search over the site; the answer is synthesised by the LLM endpoint when
   one is configured, else the sentence of the best passages that answers the question
   (:class:`~storelink.rag.extractive.AnswerSelector`). Either way it carries citations. When no
   sentence answers well enough, the route is ``none`` and the answer says "Not found on the
   site", naming the nearest pages, rather than quoting an unrelated sentence.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from storelink.connectors.registry import Registry
from storelink.errors import ConnectorError
from storelink.rag.corrections import Corrections
from storelink.rag.docstore import KnowledgeStore
from storelink.rag.extractive import AnswerSelector, AnswerWeights
from storelink.rag.intents import INTENTS, Intent, match_intent, summarise
from storelink.rag.models import Answer, Citation, LiveAnswer, Passage
from storelink.rag.synth import Synthesizer

__all__ = ["NOT_FOUND", "Router", "Search"]

NOT_FOUND = "Not found on the site."

Search = Callable[[str, int], Awaitable[tuple[list[Passage], str]]]
_CITED = re.compile(r"\[(\d{1,2})\]")


def _cited(text: str, passages: list[Passage], indexes: list[int]) -> tuple[str, list[Citation]]:
    """The pages ``indexes`` (0-based passages) cite, one citation per page in the order cited, and
    ``text`` with its ``[n]`` markers (n: a passage's place) renumbered to those citations, so that
    ``[1]`` is always ``citations[0]``: an answer quoting the third passage says ``[1]``, not ``[3]``."""
    number: dict[str, int] = {}  # page URL -> its citation's number
    out: list[Citation] = []
    for i in indexes:
        if 0 <= i < len(passages) and passages[i].url not in number:
            number[passages[i].url] = len(out) + 1
            out.append(Citation(url=passages[i].url, title=passages[i].title, heading=passages[i].heading or None))

    def renumber(marker: re.Match[str]) -> str:
        i = int(marker.group(1)) - 1
        found = number.get(passages[i].url) if 0 <= i < len(passages) else None
        return f"[{found}]" if found is not None else marker.group(0)

    return _CITED.sub(renumber, text), out


class Router:
    def __init__(
        self,
        *,
        corrections: Corrections,
        docs: KnowledgeStore,
        search: Search,
        registry: Registry | None = None,
        synthesizer: Synthesizer | None = None,
        intents: tuple[Intent, ...] = INTENTS,
        selector: AnswerSelector | None = None,
    ) -> None:
        self.corrections = corrections
        self.docs = docs
        self.search = search
        self.registry = registry
        self.synthesizer = synthesizer
        self.intents = intents
        self.selector = selector or AnswerSelector(AnswerWeights())

    async def route(self, question: str, *, k: int = 5, escalate: bool = False, live: bool = True) -> Answer:
        question = " ".join(question.split())
        match = self.corrections.match(question)
        if match is not None:
            self.docs.log_correction(match.correction.id, question, match.how)
            return Answer(
                question=question,
                route="correction",
                answer=match.correction.answer,
                citations=list(match.correction.sources),
                correction_id=match.correction.id,
                notes=[f"curated correction {match.correction.id!r} matched ({match.how})"],
            )
        notes: list[str] = []
        intent = match_intent(question, self.intents) if live else None
        live_answer: LiveAnswer | None = None
        if intent is not None:
            live_answer = await self._live(intent, question)
            if live_answer.error is None:
                return Answer(
                    question=question, route="live", answer=summarise(intent, live_answer.data), live=live_answer
                )
            notes.append(live_answer.error)
        return await self._retrieve(question, k=k, escalate=escalate, notes=notes, live=live_answer)

    async def _live(self, intent: Intent, question: str) -> LiveAnswer:
        params = intent.params(question)
        answer = LiveAnswer(intent=intent.name, connector=intent.connector, operation=intent.operation, params=params)
        if self.registry is None or intent.connector not in self.registry.names():
            answer.error = (
                f"{intent.connector}.{intent.operation} would answer this live, but the {intent.connector} "
                "connector is not available here; answered from the site instead."
            )
            return answer
        try:
            envelope = await self.registry.get(intent.connector).call(intent.operation, params)
        except ConnectorError as err:
            answer.error = f"{intent.connector}.{intent.operation} failed ({err.kind.value}): {err.message}"
            return answer
        data = envelope.data
        answer.data = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
        return answer

    async def _retrieve(
        self, question: str, *, k: int, escalate: bool, notes: list[str], live: LiveAnswer | None
    ) -> Answer:
        passages, mode = await self.search(question, k)
        if not passages:
            return Answer(
                question=question,
                route="none",
                answer=f"{NOT_FOUND} No page matches the question.",
                retrieval_mode=mode,
                notes=notes,
                live=live,
            )
        if self.synthesizer is not None:
            try:
                synthesis = await self.synthesizer.answer(question, passages, escalate=escalate)
            except ConnectorError as err:
                notes.append(f"synthesis failed ({err.kind.value}): {err.message}; answered extractively")
            else:
                if synthesis is not None:
                    cited = [int(n) - 1 for n in _CITED.findall(synthesis.text)] or [0]
                    text, citations = _cited(synthesis.text, passages, cited)
                    return Answer(
                        question=question,
                        route="retrieval",
                        answer=text,
                        citations=citations,
                        passages=passages,
                        synthesized_by=synthesis.model,
                        retrieval_mode=mode,
                        notes=[*notes, "escalated to the large model"] if synthesis.escalated else notes,
                        live=live,
                    )
                notes.append("the language model found no answer in the passages; answered extractively")
        selection = await asyncio.to_thread(self.selector.select, question, passages)
        if selection is None or not selection.found:
            nearest = "; ".join(dict.fromkeys(p.title for p in passages[:3]))
            return Answer(
                question=question,
                route="none",
                answer=f"{NOT_FOUND} The nearest pages ({nearest}) do not answer this question.",
                passages=passages,
                retrieval_mode=mode,
                notes=[*notes, "no sentence of the best passages answers the question well enough"],
                live=live,
            )
        passages = selection.passages_with(passages)  # and the page the answer's sentence points at
        text, citations = _cited(selection.text, passages, selection.cited)
        return Answer(
            question=question,
            route="retrieval",
            answer=text,
            citations=citations,
            passages=passages,
            retrieval_mode=mode,
            notes=notes,
            live=live,
        )
