"""MCP-facing functions: plain async functions with pydantic inputs and outputs.

``search`` and ``fetch`` carry the names (and shapes) that MCP clients look for when they offer
"search the knowledge base / open a document" (ChatGPT connectors and deep research call tools
named exactly ``search`` and ``fetch``); ``site_answer`` is the router. The MCP server wraps each
as a tool; none of them knows about MCP.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from storelink.errors import ConnectorError, ErrorKind
from storelink.rag.knowledge import SiteKnowledge
from storelink.rag.models import MAX_QUESTION, Answer

__all__ = [
    "FetchParams",
    "PageText",
    "SearchParams",
    "SearchResult",
    "SearchResults",
    "SiteAnswerParams",
    "fetch",
    "search",
    "site_answer",
]

MAX_RESULTS = 20
MAX_SNIPPET = 1_200  # characters of each passage in a search result
MAX_PAGE = 50_000  # characters of a fetched page


class SearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="What to look for on the store's website.")
    limit: int = Field(8, ge=1, le=MAX_RESULTS, description="How many passages to return.")


class SearchResult(BaseModel):
    id: str = Field(description="Page id: pass it to `fetch` for the whole page.")
    title: str
    url: str
    heading: str
    text: str = Field(description="The matching passage (bounded).")
    score: float


class SearchResults(BaseModel):
    results: list[SearchResult]
    retrieval: str = Field(description="hybrid (BM25 + embeddings) or lexical (BM25 only).")


class FetchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=2_000, description="A page id from `search`, or the page's URL.")


class PageText(BaseModel):
    id: str
    title: str
    url: str
    text: str = Field(description="The page's main text as Markdown (navigation and boilerplate removed).")
    truncated: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)


class SiteAnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="A customer's or operator's question.")
    escalate: bool = Field(False, description="Use the larger language model (when synthesis is configured).")


async def search(kb: SiteKnowledge, params: SearchParams) -> SearchResults:
    """Search the store's own pages (guides, fitment notes, policies, FAQs): ranked passages with
    their page's title and URL."""
    passages, mode = await kb.search(params.query, params.limit)
    return SearchResults(
        results=[
            SearchResult(
                id=p.page_id,
                title=p.title,
                url=p.url,
                heading=p.heading,
                text=p.text[:MAX_SNIPPET],
                score=p.score,
            )
            for p in passages
        ],
        retrieval=mode,
    )


async def fetch(kb: SiteKnowledge, params: FetchParams) -> PageText:
    """The clean text of one page of the store's website, by the id `search` returned or its URL."""
    page = await kb.page(params.id)
    if page is None:
        raise ConnectorError(
            ErrorKind.NOT_FOUND,
            f"No ingested page has the id or URL {params.id[:200]!r}; use an id from `search`.",
            connector="site",
            operation="fetch",
        )
    return PageText(
        id=page.id,
        title=page.title,
        url=page.url,
        text=page.text[:MAX_PAGE],
        truncated=len(page.text) > MAX_PAGE,
        metadata={k: v for k, v in {"etag": page.etag, "last_modified": page.last_modified}.items() if v},
    )


async def site_answer(kb: SiteKnowledge, params: SiteAnswerParams) -> Answer:
    """Answer a question about the store: curated corrections first, then live data (sales, search
    queries, stock) from the connectors, then the website's pages, with citations."""
    return await kb.answer(params.question, escalate=params.escalate)
