"""``storelink rag``: discover, ingest, query and evaluate the site's knowledge.

Wired under the main app as ``app.add_typer(rag_app, name="rag")``. Each command opens the
runtime (so live-data intents reach the connectors) and one :class:`SiteKnowledge`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from storelink.cli.common import cli_settings
from storelink.cli.output import Table, console
from storelink.connectors.progress import progress_listener
from storelink.errors import ConfigurationError, ConnectorError
from storelink.rag.models import MAX_QUESTION
from storelink.runtime import open_runtime
from storelink.settings import Settings

if TYPE_CHECKING:
    from storelink.rag.knowledge import SiteKnowledge

# The RAG stack (trafilatura, lxml, bm25s, Chroma) is imported by the commands that use it, not by
# every `storelink` invocation: it is most of the CLI's start-up time.

__all__ = ["rag_app"]

rag_app = typer.Typer(help="Site knowledge: discover, ingest, query and evaluate.", no_args_is_help=True)
out = console()
err = console(stderr=True)
T = TypeVar("T")


@asynccontextmanager
async def knowledge(settings: Settings, *, dense: bool | None = None) -> AsyncIterator[SiteKnowledge]:
    from storelink.rag.knowledge import SiteKnowledge

    async with open_runtime(settings) as rt:
        kb = await SiteKnowledge.open(
            settings, store=rt.store, metrics=rt.metrics, cache=rt.cache, registry=rt.registry, dense=dense
        )
        try:
            yield kb
        finally:
            await kb.aclose()


def _run(work: Callable[[], Awaitable[T]], *, show_progress: bool) -> T:
    """Run ``work`` with a progress bar fed by ``report_progress``; errors become exit codes."""

    async def main() -> T:
        if not show_progress:
            return await work()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            async def listener(done: float, total: float | None, message: str) -> None:
                key = "embedding" if "embedding" in message else "pages"
                if key not in tasks:
                    tasks[key] = bar.add_task(message, total=total)
                bar.update(tasks[key], completed=done, total=total, description=message)

            token = progress_listener.set(listener)
            try:
                return await work()
            finally:
                progress_listener.reset(token)

    try:
        return asyncio.run(main())
    except ConnectorError as exc:  # one line, unwrapped: the message carries URLs
        err.print(f"[red]{exc.kind.value}[/red]: {escape(exc.message)}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _print_off_site(result: dict[str, Any]) -> None:
    """Why sitemaps or pages were skipped for being on (or redirecting to) another origin."""
    for note in result["off_site_notes"]:
        err.print(f"[yellow]off-site:[/yellow] {escape(note)}", soft_wrap=True, highlight=False)
    if result["off_site"] > len(result["off_site_notes"]):
        err.print(f"[yellow]off-site:[/yellow] … and {result['off_site'] - len(result['off_site_notes'])} more")


@rag_app.command()
def discover(
    url: Annotated[
        str | None, typer.Argument(help="Site to discover (default: STORELINK_SITE_URL or the demo site).")
    ] = None,
    max_pages: Annotated[int, typer.Option(help="Pages the crawl may fetch.")] = 5000,
    max_depth: Annotated[int, typer.Option(help="Link hops from the home page and sitemap pages.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the site's pages: robots.txt, sitemaps (indexes, gzip), then a bounded crawl."""
    settings = cli_settings()

    async def work() -> dict[str, Any]:
        async with knowledge(settings, dense=False) as kb:
            from storelink.rag.discover import CrawlLimits

            report = await kb.discover(url, limits=CrawlLimits(max_pages=max_pages, max_depth=max_depth))
            return report.model_dump()

    result = _run(work, show_progress=not as_json)
    if as_json:
        _print_json(result)
        return
    out.print(
        f"{result['urls']} pages at {result['origin']}: {result['from_sitemaps']} from {result['sitemaps_read']} "
        f"sitemap(s), {result['from_crawl']} found only by crawling; {result['duplicates']} duplicate address(es) "
        f"merged, {result['disallowed']} disallowed by robots.txt, {result['missing']} missing, "
        f"{result['off_site']} off the site's origin skipped ({result['elapsed_s']:.1f} s)."
    )
    _print_off_site(result)
    if result["truncated"]:
        err.print("[yellow]The crawl hit its bounds; raise --max-pages or --max-depth to go further.[/yellow]")


@rag_app.command()
def ingest(
    url: Annotated[str | None, typer.Option("--url", help="Ingest this one page only.")] = None,
    no_embed: Annotated[bool, typer.Option("--no-embed", help="Skip embeddings (lexical index only).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fetch (conditionally), extract, chunk and index the discovered pages."""
    settings = cli_settings()

    async def work() -> dict[str, Any]:
        async with knowledge(settings, dense=False if no_embed else None) as kb:
            report = await kb.ingest(url, embed=not no_embed)
            return {**report.model_dump(), "pages_per_s": round(report.pages_per_s, 1)}

    result = _run(work, show_progress=not as_json)
    if as_json:
        _print_json(result)
        return
    out.print(
        f"{result['pages']} pages: {result['updated']} new or changed, {result['unchanged']} unchanged "
        f"({result['not_modified']} answered 304), {result['removed']} removed, {result['failed']} failed, "
        f"{result['off_site']} redirected off the site's origin. "
        f"Chunks: +{result['chunks_added']} −{result['chunks_removed']} = {result['chunks_total']}; "
        f"{result['embedded']} embedded, {result['embed_cache_hits']} from the cache. "
        f"{result['pages_per_s']} pages/s; retrieval {result['retrieval']}."
    )
    _print_off_site(result)
    if result["dense_note"]:
        err.print(f"[yellow]{result['dense_note']}[/yellow]")


@rag_app.command()
def query(
    question: Annotated[str, typer.Argument(help="The question.")],
    k: Annotated[int, typer.Option(help="Passages to retrieve.")] = 5,
    escalate: Annotated[bool, typer.Option(help="Use the large LLM.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer a question: corrections, then live data, then retrieval; with citations."""
    if not question.strip() or len(question) > MAX_QUESTION:  # the bounds site_answer has over MCP
        what = "is empty" if not question.strip() else f"is {len(question):,} characters; the most is {MAX_QUESTION:,}"
        err.print(f'The question {what}. Ask one, e.g. storelink rag query "how long do I have to return a part?"')
        raise typer.Exit(2)
    settings = cli_settings()

    async def work() -> dict[str, Any]:
        async with knowledge(settings) as kb:
            answer = await kb.answer(question, k=k, escalate=escalate)
            return answer.model_dump(mode="json")

    result = _run(work, show_progress=not as_json)
    if as_json:
        _print_json(result)
        return
    out.print(f"[bold]{result['answer']}[/bold]")
    for n, c in enumerate(result["citations"], start=1):
        out.print(f"  [{n}] {c['title']} — {c['url']}")
    via = result["route"] + (f" · {result['retrieval_mode']}" if result.get("retrieval_mode") else "")
    via += f" · {result['synthesized_by']}" if result.get("synthesized_by") else ""
    err.print(f"[dim]answered by: {via}[/dim]")
    for note in result["notes"]:
        err.print(f"[dim]note: {note}[/dim]")


@rag_app.command("eval")
def eval_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with pass_rate and total).")] = False,
    k: Annotated[int, typer.Option(help="Cut-off for hit@k, MRR and nDCG.")] = 10,
    lexical: Annotated[bool, typer.Option(help="Lexical only, as the test gate runs.")] = False,
    tune: Annotated[
        bool, typer.Option(help="Grid-search the fusion weights on half the goldens; show them on the other half.")
    ] = False,
    goldens_file: Annotated[Path | None, typer.Option("--goldens", help="Another goldens.yaml.")] = None,
) -> None:
    """Score the goldens: pass rate, hit@k, MRR, nDCG. Exits 1 below the threshold in quality.toml."""
    settings = cli_settings()
    from storelink.rag.goldens import evaluate, load_goldens, tune_fusion

    goldens = load_goldens(goldens_file)

    async def work() -> dict[str, Any]:
        async with knowledge(settings, dense=False if lexical else None) as kb:
            rows = await asyncio.to_thread(tune_fusion, kb.index, goldens) if tune else []  # first: it can refuse
            result: dict[str, Any] = (await evaluate(kb, goldens, k=k)).model_dump()
            if tune:
                result["tuning"] = [r.model_dump() for r in rows]
            return result

    result = _run(work, show_progress=not as_json)
    if as_json:
        _print_json(result)
    else:
        table = Table("question", "route", "pass", "rank")
        for r in result["results"]:
            mark = "[green]yes[/green]" if r["passed"] else "[red]no[/red]"
            table.add_row(r["question"], r["route"], mark, str(r["first_relevant_rank"] or "—"))
        out.print(table)
        out.print(
            f"pass rate {result['pass_rate']:.3f} ({result['passed']}/{result['total']}, threshold "
            f"{result['threshold']:.2f}) · hit@1 {result['hit_at_1']:.3f} · hit@{k} {result['hit_at_k']:.3f} · "
            f"MRR@{k} {result['mrr']:.3f} · nDCG@{k} {result['ndcg']:.3f} · {result['retrieval_mode']} "
            f"({result['fusion']})"
        )
        if tune:
            rows = result["tuning"]
            shown = rows[:10] + [r for r in rows[10:] if r["shipped"]]
            grid = Table("fusion", "nDCG@10 tuning half", "nDCG@10 check half", "MRR@10 tuning half", title=(
                "fusion grid: sorted on the goldens at even places, shown on those at odd places (they chose nothing)"
            ))  # fmt: skip
            for row in shown:
                name = f"{row['fusion']} [bold](shipped)[/bold]" if row["shipped"] else row["fusion"]
                grid.add_row(name, f"{row['ndcg_tuned']:.3f}", f"{row['ndcg_checked']:.3f}", f"{row['mrr_tuned']:.3f}")
            out.print(grid)
            out.print("Keep the shipped weights (\\[fusion] in quality.toml) unless a point beats them on both halves.")
    if result["pass_rate"] < result["threshold"]:
        raise typer.Exit(1)


@rag_app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """What is ingested, how retrieval runs, and the last runs' reports."""
    settings = cli_settings()

    async def work() -> dict[str, Any]:
        async with knowledge(settings) as kb:
            return kb.status()

    result = _run(work, show_progress=False)
    if as_json:
        _print_json(result)
        return
    for key in ("mode", "site", "urls", "pages", "chunks", "retrieval", "fusion", "corrections", "synthesis"):
        out.print(f"{key:>12}: {result[key]}")
    if result["dense_note"]:
        err.print(f"[yellow]{result['dense_note']}[/yellow]")
