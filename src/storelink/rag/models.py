"""The shapes retrieval answers in: passages with citations, and the router's answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["MAX_QUESTION", "Answer", "Citation", "LiveAnswer", "Passage", "Route"]

Route = Literal["correction", "live", "retrieval", "none"]
MAX_QUESTION = 1_000  # characters of a question, over MCP and the CLI


class Citation(BaseModel):
    url: str
    title: str
    heading: str | None = None


class Passage(BaseModel):
    """One retrieved chunk, with where it comes from."""

    id: str = Field(description="Chunk id (stable while the text is unchanged).")
    page_id: str = Field(description="Id of the page, for `fetch`.")
    url: str
    title: str
    heading: str
    text: str
    score: float
    lexical_rank: int | None = None
    dense_rank: int | None = None


class LiveAnswer(BaseModel):
    """A question a connector answers better than the site's pages."""

    intent: str
    connector: str
    operation: str
    params: dict[str, Any]
    data: Any = None
    error: str | None = None


class Answer(BaseModel):
    question: str
    route: Route = Field(description="What answered: a curated correction, a live connector, or retrieval.")
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    correction_id: str | None = None
    live: LiveAnswer | None = None
    synthesized_by: str | None = Field(None, description="The LLM that wrote the answer; None: extractive.")
    retrieval_mode: str | None = None
    notes: list[str] = Field(default_factory=list)
