"""Optional answer synthesis through an OpenAI-compatible endpoint (``STORELINK_LLM_BASE_URL``).

A short question goes to the small model (``STORELINK_LLM_MODEL_SMALL``); a long one, or one
the caller escalates, to the large model (``STORELINK_LLM_MODEL_LARGE``). When the small model
says the passages do not answer the question, the large one gets a second try. The model must
answer from the numbered passages only and cite them as ``[n]``.

Requests go through the core's resilient pipeline (deadline, breaker, retries of 429/5xx), as
connector ``llm``, built from its knobs (``STORELINK_LLM_TIMEOUT``, ``_DEADLINE``, ``_MAX_RETRIES``,
…); nothing is cached. Without an endpoint the router answers extractively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx2

from storelink.clock import Clock, LoopClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.metrics import Metrics
from storelink.rag.models import Passage
from storelink.resilience.classify import HttpClassifier
from storelink.resilience.pipeline import OPTIONS_KEY, REPORT_KEY, CallOptions, CallReport
from storelink.resilience.policy import build_pipeline, client_timeout
from storelink.settings import Settings

__all__ = ["LONG_QUESTION_WORDS", "NO_ANSWER", "Synthesis", "Synthesizer"]

LONG_QUESTION_WORDS = 25
NO_ANSWER = "NO_ANSWER"

_SYSTEM = (
    "You answer customers' questions about an online store using only the numbered passages from the "
    "store's own website. Cite every fact with the passage number in brackets, like [2]. Be brief: at most "
    f"three sentences. If the passages do not answer the question, reply exactly {NO_ANSWER}."
)


@dataclass(frozen=True, slots=True)
class Synthesis:
    text: str
    model: str
    escalated: bool


class Synthesizer:
    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not settings.llm_base_url:
            raise ValueError("no STORELINK_LLM_BASE_URL")
        self.small = settings.llm_model_small
        self.large = settings.llm_model_large
        knobs = settings.llm
        limits = httpx2.Limits(max_connections=knobs.pool_size, max_keepalive_connections=knobs.pool_size)
        pipeline = build_pipeline(
            transport or httpx2.AsyncHTTPTransport(limits=limits, retries=0),
            connector="llm",
            knobs=knobs,
            classifier=HttpClassifier(
                title="The LLM endpoint", connector="llm", credential_hint="STORELINK_LLM_API_KEY"
            ),
            clock=clock or LoopClock(),
            metrics=metrics,
        )
        headers = {"User-Agent": "storelink"}
        if settings.llm_api_key is not None and settings.llm_api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {settings.llm_api_key.get_secret_value()}"
        self.client = httpx2.AsyncClient(
            base_url=settings.llm_base_url.rstrip("/") + "/",
            transport=pipeline,
            headers=headers,
            timeout=client_timeout(knobs),
        )

    def pick_model(self, question: str, *, escalate: bool) -> str:
        return self.large if escalate or len(question.split()) > LONG_QUESTION_WORDS else self.small

    async def answer(self, question: str, passages: list[Passage], *, escalate: bool = False) -> Synthesis | None:
        """The model's answer, or None when it found none in the passages (even after escalating)."""
        model = self.pick_model(question, escalate=escalate)
        text = await self._complete(model, question, passages)
        escalated = model == self.large
        if text is None and model != self.large:
            model, escalated = self.large, True
            text = await self._complete(model, question, passages)
        return Synthesis(text, model, escalated) if text is not None else None

    async def _complete(self, model: str, question: str, passages: list[Passage]) -> str | None:
        context = "\n\n".join(f"[{n}] {p.title} · {p.heading}\n{p.text}" for n, p in enumerate(passages, start=1))
        body = {
            "model": model,
            "temperature": 0,
            "max_tokens": 300,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": f"Passages:\n{context}\n\nQuestion: {question}"},
            ],
        }
        # A completion changes nothing upstream: it may be retried like a read, never cached.
        options = CallOptions(operation="chat_completions", cache_ttl_s=0.0)
        response = await self.client.post("chat/completions", json=body, extensions={OPTIONS_KEY: options})
        report: CallReport | None = response.extensions.get(REPORT_KEY)
        payload = report.body if report and report.body is not None else response.json()
        try:
            content = str(payload["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            raise ConnectorError(
                ErrorKind.UPSTREAM_ERROR,
                "The LLM endpoint answered without choices[0].message.content; is it OpenAI-compatible?",
                connector="llm",
                operation="chat_completions",
            ) from None
        if not content or re.fullmatch(rf"\W*{NO_ANSWER}\W*", content):
            return None
        return content

    async def aclose(self) -> None:
        await self.client.aclose()
