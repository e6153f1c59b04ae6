"""Operations commands: ``health`` (a grid), ``synthetic``, ``soak`` and ``live-check``.

Wire them into the main app with one line in ``cli/app.py`` (after removing its ``health``)::

    from storelink.cli import ops
    ops.register(app)

The work lives in :mod:`storelink.cli.synthetic`, :mod:`storelink.cli.soak` and
:mod:`storelink.cli.live_check`; this module parses options and prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from storelink.cli.common import StoreOption, cli_settings, store_runtime
from storelink.cli.live_check import LiveCheckReport, live_check
from storelink.cli.output import Table, console
from storelink.cli.soak import SoakResult, SoakRow, run_soak
from storelink.cli.synthetic import SYNTHETIC_KNOBS, ConnectorRun, SyntheticReport, run_synthetic
from storelink.connectors.base import Connector, Health
from storelink.errors import ConfigurationError, ConnectorError
from storelink.rag.docstore import KnowledgeStore
from storelink.store import EmbeddedStore
from storelink.warm_up import load_warm_up

__all__ = ["health", "live_check_command", "register", "soak", "synthetic"]

out = console()
err = console(stderr=True)


def _builtin() -> list[type[Connector]]:
    from storelink.connectors.registry import builtin_connectors

    return builtin_connectors()


def _choose(names: Sequence[str] | None) -> list[type[Connector]]:
    available = _builtin()
    if not names:
        return available
    by_name = {c.name: c for c in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        err.print(f"[red]Unknown connector(s): {', '.join(unknown)}.[/red] Connectors: {', '.join(by_name)}")
        raise typer.Exit(2)
    return [by_name[n] for n in names]


_COLOURS = {
    "ok": "green",
    "degraded": "yellow",
    "down": "red",
    "disabled": "dim",
    "pass": "green",
    "fail": "red",
    "warn": "yellow",
    "skip": "dim",
    "info": "cyan",
    "closed": "green",
    "half_open": "yellow",
    "open": "red",
}


def _c(value: str) -> str:
    colour = _COLOURS.get(value)
    return f"[{colour}]{value}[/]" if colour else value


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


# -- health ------------------------------------------------------------------------------------------
def site_knowledge_note(store: EmbeddedStore) -> str:
    """Site knowledge in this data directory: the last warm-up (a server's, maybe running now),
    else what is ingested."""
    status = load_warm_up(store)
    if status is not None and status.state != "off":
        return status.summary()
    pages = KnowledgeStore(store).page_count()
    if pages:
        return f"{pages:,} pages ingested"
    return "nothing ingested yet: `serve` and `mcp` warm it up at start; `storelink rag ingest` does it now"


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each probe.")] = 15.0,
    store: StoreOption = None,
) -> None:
    """Probe every connector once: mode, health, breaker, latency, quota headroom, what is missing."""
    settings = cli_settings()

    async def probe(c: Connector) -> tuple[Health, dict[str, Any] | None]:
        try:
            found = await asyncio.wait_for(c.health(), timeout)
        except TimeoutError:
            found = Health(
                connector=c.name,
                title=c.title,
                mode=c.mode,
                status="down",
                breaker=c.breaker.state,
                message=f"The probe did not answer within {timeout:g} s.",
                missing=list(c.ctx.missing),
            )
        headroom = c.limiter.headroom()
        return found, headroom.model_dump() if headroom is not None else None

    shared_note: list[str] = []
    site_note: list[str] = []

    async def run() -> list[tuple[Health, dict[str, Any] | None]]:
        async with store_runtime(settings, store) as rt:
            if rt.shared is not None:
                await rt.shared.ping()
                shared_note.append(rt.shared.status().message)
            if rt.database is not None:  # STORELINK_DATABASE_URL: asked now, not as last seen
                shared_note.append((await rt.database.status()).message)
            site_note.append(site_knowledge_note(rt.store))
            return list(await asyncio.gather(*(probe(c) for c in rt.registry)))

    try:
        results = asyncio.run(run())
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {exc}")
        raise typer.Exit(2) from None
    except ConnectorError as exc:  # the store: unknown, or not said when there are several
        err.print(f"[red]{exc.kind.value}[/red]: {exc.message}")
        raise typer.Exit(2) from None
    if as_json:
        rows = [{**h.model_dump(mode="json"), "headroom": room} for h, room in results]
        print(json.dumps(rows, indent=2))
    else:
        table = Table(
            "connector", "mode", "health", "breaker", "latency", "headroom", "detail", title="storelink health"
        )
        for h, room in results:
            detail = h.message
            headroom = f"{room['available']:,.0f}/{room['maximum']:,.0f} {room['unit']}" if room else "–"
            table.add_row(h.title, h.mode, _c(h.status), _c(h.breaker.value), _ms(h.latency_ms), headroom, detail)
        out.print(table)
        # Names to copy go on lines of their own, whole (a table cell would fold them).
        for h, _ in results:
            if h.missing and h.mode != "live":
                out.print(f"{h.title}: live mode needs {', '.join(h.missing)}", highlight=False, markup=False)
        for note in shared_note:  # what replicas share: Redis, PostgreSQL
            out.print(note)
        for note in site_note:
            out.print(f"site knowledge: {note}", highlight=False, markup=False)
    if any(h.status == "down" for h, _ in results):
        raise typer.Exit(1)


# -- synthetic ---------------------------------------------------------------------------------------
def _print_run(run: ConnectorRun) -> None:
    out.rule(f"[bold]{run.title}[/bold] ({run.connector})")
    if run.skipped:
        out.print(f"[yellow]skipped:[/yellow] {run.skipped}")
        return
    for number, phase in enumerate(run.phases, 1):
        out.print(f"\n[bold]{number}. {phase.title}[/bold]  [dim]{phase.goal}[/dim]")
        table = Table("t", "event", "detail", "took", show_header=False, box=None, pad_edge=False)
        for e in phase.events:
            took = ""
            if e.kind in ("retry_wait", "limiter_wait") and e.seconds is not None:
                detail = f"{e.text}: wait [bold]{e.seconds:.3f} s[/bold]"
                if e.kind == "retry_wait":
                    detail += f" ({_wait_source(phase.events, e)})"
            elif e.kind == "outcome":
                colour = "green" if e.data.get("kind") == "ok" else "red"
                detail = f"[{colour}]{e.text}[/]"
                took = f"{e.seconds:.3f} s" if e.seconds is not None else ""
            elif e.kind == "breaker":
                detail = f"[magenta]{e.text}[/magenta]"
            elif e.kind == "attempt":
                detail = e.text
                took = _ms(e.seconds * 1000.0) if e.seconds is not None else ""
            else:
                detail = e.text
                took = f"{e.seconds:.3f} s" if e.seconds is not None else ""
            table.add_row(f"+{e.at:7.3f} s", e.kind.replace("_", " "), detail, took)
        out.print(table)
    m = run.metrics
    summary = Table("metric", "value", title=f"{run.title}: metrics after the run")
    summary.add_row("calls", f"{m['calls']:.0f}  {_fmt_counts(m['outcomes'])}")
    summary.add_row("attempts sent", f"{m['attempts']:.0f}")
    summary.add_row("retries", f"{sum(m['retries'].values()):.0f}  {_fmt_counts(m['retries'])}")
    summary.add_row("throttled attempts", f"{m['throttles']:.0f}")
    summary.add_row("limiter wait", f"{m['limiter_wait_s']:.3f} s")
    summary.add_row("breaker transitions", _fmt_counts(m["breaker_transitions"]) or "none")
    summary.add_row("latency p50 / p95", f"{_ms(m['p50_ms'])} / {_ms(m['p95_ms'])}")
    out.print(summary)


def _wait_source(events: list[Any], wait: Any) -> str:
    """Why a retry waited as long as it did: the upstream's ``Retry-After``, another hint the
    connector read from the upstream's answer, or full-jitter backoff (never above its ceiling)."""
    index = events.index(wait)
    attempts = 0
    header: str | None = None
    for e in reversed(events[:index]):
        if e.kind == "call":
            break
        if e.kind == "attempt":
            attempts += 1
            if attempts == 1:
                header = e.data.get("retry_after")
    if header is not None:
        with contextlib.suppress(ValueError):
            if abs(float(header) - wait.seconds) < 1e-6:
                return "the server's Retry-After"
    ceiling = min(SYNTHETIC_KNOBS["backoff_cap"], SYNTHETIC_KNOBS["backoff_base"] * 2 ** (attempts - 1))
    if wait.seconds > ceiling + 1e-9:
        return "the wait the upstream's answer asked for"
    return "full-jitter backoff"


def _fmt_counts(counts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in counts.items())


def synthetic(
    names: Annotated[list[str] | None, typer.Argument(help="Connectors to drive (default: all).")] = None,
    virtual_time: Annotated[
        bool, typer.Option("--virtual-time", help="Run the waits on a fake clock: instant, same timeline.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timeline as JSON.")] = False,
) -> None:
    """Drive scripted calls through each connector's fake with faults, and print a timeline of
    attempts, waits (Retry-After, backoff, throttle) and breaker transitions, then the metrics."""
    settings = cli_settings()
    chosen = _choose(names)
    report: SyntheticReport = asyncio.run(run_synthetic(settings, chosen, virtual_time=virtual_time))
    if as_json:
        print(json.dumps(_synthetic_json(report), indent=2))
        return
    clock = "virtual (instant) time" if virtual_time else "real time"
    out.print(f"[bold]storelink synthetic[/bold]: scripted faults through the fakes, {clock}")
    for run in report.runs:
        _print_run(run)
    out.print(f"\n[dim]done in {report.wall_s:.1f} s of wall time[/dim]")


def _synthetic_json(report: SyntheticReport) -> dict[str, Any]:
    return {
        "virtual_time": report.virtual_time,
        "wall_s": round(report.wall_s, 3),
        "runs": [
            {
                "connector": r.connector,
                "skipped": r.skipped,
                "metrics": r.metrics,
                "phases": [
                    {
                        "title": p.title,
                        "goal": p.goal,
                        "events": [
                            {"at": round(e.at, 4), "kind": e.kind, "text": e.text, "seconds": e.seconds, **e.data}
                            for e in p.events
                        ],
                    }
                    for p in r.phases
                ],
            }
            for r in report.runs
        ],
    }


# -- soak --------------------------------------------------------------------------------------------
def _soak_table(result: SoakResult) -> Table:
    table = Table(
        "connector",
        "operation",
        "calls",
        "throughput",
        "errors",
        "error rate",
        "p50",
        "p95",
        "p99",
        title=f"storelink soak: {result.seconds:g} s at {result.target_rps:g} calls/s through loopback fakes",
    )

    def add(row: SoakRow, bold: bool = False) -> None:
        p50, p95, p99 = row.quantiles_ms()
        cells = [
            row.connector,
            row.operation,
            f"{row.calls:,}",
            f"{row.calls / result.elapsed_s:.1f}/s" if result.elapsed_s else "–",
            f"{row.errors:,}"
            + (f" ({_fmt_counts({k: v for k, v in row.outcomes.items() if k != 'ok'})})" if row.errors else ""),
            f"{100 * row.error_rate:.2f} %",
            _ms(p50),
            _ms(p95),
            _ms(p99),
        ]
        table.add_row(*[f"[bold]{c}[/bold]" for c in cells] if bold else cells)

    for row in result.rows:
        add(row)
    if len(result.rows) > 1:
        add(result.total, bold=True)
    return table


def soak(
    seconds: Annotated[float, typer.Option(help="How long to send load.", min=0.1)] = 60.0,
    rps: Annotated[float, typer.Option(help="Calls per second offered (open loop).", min=0.1)] = 50.0,
    names: Annotated[list[str] | None, typer.Argument(help="Connectors to load (default: all).")] = None,
    mix: Annotated[
        str, typer.Option(help="`probe` (each connector's cheap call) or `examples` (every read operation's example).")
    ] = "probe",
    op: Annotated[
        list[str] | None, typer.Option("--op", help="Only these `connector.operation`s (repeatable).")
    ] = None,
    faults: Annotated[str | None, typer.Option(help="FaultPlan spec for the fakes, e.g. `shopify:503=0.05`.")] = None,
    max_in_flight: Annotated[int | None, typer.Option(help="Calls outstanding at most (default 4 × rps).")] = None,
    cache: Annotated[
        bool, typer.Option("--cache", help="Keep the response cache on (off: every call hits the wire).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Send bounded load through the fakes on loopback; print throughput, error rate, p50/p95/p99
    and the process's memory at start and end."""
    if mix not in ("probe", "examples"):
        raise typer.BadParameter("choose probe or examples", param_hint="--mix")
    settings = cli_settings()
    chosen = _choose(names)
    columns = (
        TextColumn("[bold]soak[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("soak", total=seconds, stats="starting fakes…")

        def progress(elapsed: float, completed: int, errors: int, in_flight: int) -> None:
            rate = completed / elapsed if elapsed > 0 else 0.0
            bar.update(
                task,
                completed=elapsed,
                stats=f"{completed:,} calls · {rate:.1f}/s · {errors:,} errors · {in_flight} in flight",
            )

        try:
            result = asyncio.run(
                run_soak(
                    settings,
                    chosen,
                    seconds=seconds,
                    rps=rps,
                    mix=mix,
                    operations=op or (),
                    faults=faults,
                    max_in_flight=max_in_flight,
                    cache=cache,
                    progress=progress,
                )
            )
        except (ValueError, ConfigurationError) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    out.print(_soak_table(result))
    facts = Table("", "", show_header=False, box=None)
    facts.add_row(
        "offered / shed",
        f"{result.offered:,} calls offered over {result.sent_s:.1f} s, {result.shed:,} shed (over max in flight)"
        + (f", {result.unfinished:,} still unfinished after the drain" if result.unfinished else ""),
    )
    facts.add_row(
        "throughput",
        f"{result.throughput:.1f} calls/s completed over {result.elapsed_s:.1f} s "
        f"(the last call finished {result.elapsed_s - result.sent_s:.1f} s after the last was sent)",
    )
    facts.add_row(
        "RSS",
        f"{result.rss_start_mb:.1f} MB at start → {result.rss_end_mb:.1f} MB at end "
        f"({result.rss_end_mb - result.rss_start_mb:+.1f} MB; client and fakes in one process)",
    )
    for name, p in result.pipeline.items():
        facts.add_row(
            f"{name} pipeline",
            f"{p['attempts']:,.0f} attempts, {p['retries']:,.0f} retries, {p['throttles']:,.0f} throttled, "
            f"{p['limiter_wait_s']:.2f} s limiter wait, breaker {p['breaker']}",
        )
    for name, why in result.skipped.items():
        facts.add_row(f"{name}", f"[yellow]skipped: {why}[/yellow]")
    for call, what in result.crashes.items():
        facts.add_row(call, f"[red]raised an unexpected exception (a bug): {what}[/red]")
    out.print(facts)


# -- live-check --------------------------------------------------------------------------------------
def _print_check(report: LiveCheckReport) -> None:
    verdict = "[green]ready for live mode[/green]" if report.ready else "[red]not ready: fix the items below[/red]"
    table = Table("step", "result", "detail", "what to do", title=f"{report.title} ({report.connector}): {verdict}")
    for c in report.checks:
        table.add_row(c.step, _c(c.result), c.detail, c.fix)
    out.print(table)


def live_check_command(
    names: Annotated[list[str] | None, typer.Argument(help="Connectors to check (default: all).")] = None,
    scopes: Annotated[
        bool, typer.Option(help="Call each read operation's example once to find missing scopes.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The live validation playbook: per connector, check the flag, the credentials, the ids
    configured, one cheap live call and each read operation's scope, and say what to fix."""
    settings = cli_settings()
    chosen = _choose(names)
    try:
        reports = asyncio.run(live_check(settings, chosen, scopes=scopes))
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        for report in reports:
            _print_check(report)
    if not all(r.ready for r in reports):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the main CLI."""
    app.command("health")(health)
    app.command("synthetic")(synthetic)
    app.command("soak")(soak)
    app.command("live-check")(live_check_command)
