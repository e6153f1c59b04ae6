"""The chaos matrix (issue 14, finding 10): every connector against every fault, always and in bursts.

One cell is one connector's representative read (its health probe, one upstream request when
all is well) in mock mode, with one fault injected on its fake, either on **every** request or
in a **burst** that then clears. A cell records what the caller got (success or the error's
kind), how many attempts reached the upstream (refused connections included; token requests
not) and the time the call took against its deadline. :data:`EXPECTED` says what each cell must
give; ``tests/chaos/test_matrix.py`` asserts it cell by cell, and ``python bench/chaos.py
--write`` runs the same matrix and rewrites the table in ``docs/reliability.md``, which a test
keeps current.

Time is the event loop's, under ``looptime``: waits, stalls and backoff take no real time and
are exact (jitter draws are pinned to 0.5), so the table is the same on every run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx2

from storelink.clock import LoopClock
from storelink.connectors.base import Connector
from storelink.connectors.registry import builtin_connectors
from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.data import demo_wall
from storelink.fakes.faults import Fault, FaultPlan
from storelink.mock_mode import build_fake
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.stores import environment_store

__all__ = [
    "CELLS",
    "CONNECTORS",
    "DOC",
    "EXPECTED",
    "FAULTS",
    "PATTERNS",
    "Cell",
    "Expect",
    "Result",
    "render_table",
    "replace_section",
    "run_cell",
    "run_matrix",
    "section",
]

CONNECTORS = ("shopify", "ga4", "gsc", "bing", "zoho")
FAULTS = ("429", "5xx", "stall", "reset", "malformed", "truncated", "401", "refused")
PATTERNS: tuple[Pattern, ...] = ("every", "burst")
Pattern = Literal["every", "burst"]

RETRY_AFTER_S = 2.0  # what the fakes' 429s ask for
BURST = 2  # faults in a burst before the upstream recovers …
BURST_401 = 1  # … but a rejected token is one event: after a refresh the next one works
TODAY = dt.date(2026, 11, 24)  # the demo store's pinned day, as in the tests
OK = "ok"

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN = "<!-- chaos-matrix:begin (python bench/chaos.py --write) -->"
END = "<!-- chaos-matrix:end -->"


@dataclass(frozen=True, slots=True)
class Cell:
    connector: str
    fault: str
    pattern: Pattern

    @property
    def id(self) -> str:
        return f"{self.connector}-{self.fault}-{self.pattern}"


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str  # OK, or the ErrorKind value the caller must get
    attempts: int  # requests that reached (or tried to reach) the upstream for the operation
    min_elapsed_s: float = 0.0  # a floor, where a wait must have been honoured (Retry-After)
    xfail: str | None = None  # a known bug that keeps the cell from its expectation (strict)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str
    attempts: int
    elapsed_s: float
    deadline_s: float
    message: str = ""

    def meets(self, expect: Expect) -> bool:
        return (
            self.outcome == expect.outcome
            and self.attempts == expect.attempts
            and expect.min_elapsed_s <= self.elapsed_s <= self.deadline_s
        )


# -- what each cell must give ------------------------------------------------------------------------
# The rules, whichever the connector (max_retries 3, so at most 4 attempts; deadline 30 s; attempt
# timeout 10 s):
#   429      every: rate_limited after 4 attempts, each retry after Retry-After (3 × 2 s);
#            burst: ok on the 3rd attempt, after 2 × 2 s.
#   5xx      every: unavailable after 4 attempts; burst: ok on the 3rd.
#   stall    every: timeout, 3 attempts of ≤ 10 s filling the 30 s deadline; burst: ok on the 3rd, in ~20 s.
#   reset, truncated, refused: like 5xx (a broken or refused connection is unavailable, retried).
#   malformed: upstream_error at once, every or burst: a 200 that breaks the contract is not retried.
#   401      every: unauthorized after one refresh and one more attempt where credentials can be
#            refreshed (Zoho's OAuth), after 1 where they cannot (mock mode's static demo tokens
#            and Bing's API key); burst (one 401): ok after the refresh where there is one.
def _rules(connector: str) -> dict[tuple[str, Pattern], Expect]:
    refreshable = connector == "zoho"
    return {
        ("429", "every"): Expect("rate_limited", 4, min_elapsed_s=3 * RETRY_AFTER_S),
        ("429", "burst"): Expect(OK, 3, min_elapsed_s=2 * RETRY_AFTER_S),
        ("5xx", "every"): Expect("unavailable", 4),
        ("5xx", "burst"): Expect(OK, 3),
        ("stall", "every"): Expect("timeout", 3, min_elapsed_s=29.0),
        ("stall", "burst"): Expect(OK, 3, min_elapsed_s=20.0),
        ("reset", "every"): Expect("unavailable", 4),
        ("reset", "burst"): Expect(OK, 3),
        ("malformed", "every"): Expect("upstream_error", 1),
        ("malformed", "burst"): Expect("upstream_error", 1),
        ("truncated", "every"): Expect("unavailable", 4),
        ("truncated", "burst"): Expect(OK, 3),
        ("401", "every"): Expect("unauthorized", 2 if refreshable else 1),
        ("401", "burst"): Expect(OK, 2) if refreshable else Expect("unauthorized", 1),
        ("refused", "every"): Expect("unavailable", 4),
        ("refused", "burst"): Expect(OK, 3),
    }


# Cells that differ from the rules, each for a reason of its upstream's.
_EXCEPTIONS: dict[tuple[str, str, Pattern], Expect] = {
    # Google's per-minute ``rateLimitExceeded`` carries no Retry-After; Search Console waits out the
    # minute (retry_after_s=60), which no 30 s deadline covers, so it answers at once instead of retrying.
    ("gsc", "429", "every"): Expect("rate_limited", 1),
    ("gsc", "429", "burst"): Expect("rate_limited", 1),
    # Bing throttles with HTTP 400 ErrorCode 4 (ThrottleUser) and no Retry-After; storelink waits
    # THROTTLE_WAIT_S = 10 s: two waits fit in the deadline, a third would leave no time to send.
    ("bing", "429", "every"): Expect("rate_limited", 3, min_elapsed_s=20.0),
    ("bing", "429", "burst"): Expect(OK, 3, min_elapsed_s=20.0),
}

EXPECTED: dict[Cell, Expect] = {
    Cell(c, f, p): _EXCEPTIONS.get((c, f, p), _rules(c)[(f, p)]) for c in CONNECTORS for f in FAULTS for p in PATTERNS
}
CELLS: tuple[Cell, ...] = tuple(EXPECTED)


# -- running one cell ------------------------------------------------------------------------------------
def _plan(fault: str, pattern: Pattern) -> FaultPlan:
    if fault == "refused":
        return FaultPlan()  # the wire refuses; the fake never hears of it
    if fault == "5xx":
        if pattern == "every":
            each = {Fault(s): 0.25 for s in ("500", "502", "503", "504")}
            return FaultPlan(rates=each, retry_after_s=RETRY_AFTER_S, seed=14)
        return FaultPlan.scripted("500", "503", retry_after_s=RETRY_AFTER_S)
    if pattern == "every":
        return FaultPlan(rates={Fault(fault): 1.0}, retry_after_s=RETRY_AFTER_S)
    count = BURST_401 if fault == "401" else BURST
    return FaultPlan.scripted(*[fault] * count, retry_after_s=RETRY_AFTER_S)


class ChaosWire(httpx2.AsyncBaseTransport):
    """The connector's wire to its in-process fake: counts the attempts that reach for the API
    host and, for the ``refused`` fault, refuses the connection (as a closed port does)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, *, refuse: int) -> None:
        self.inner = inner
        self.refuse = refuse  # how many connections to refuse (-1: all)
        self.api_host = ""
        self.attempts = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host == self.api_host:
            self.attempts += 1
            if self.refuse != 0:
                self.refuse -= 1 if self.refuse > 0 else 0
                raise httpx2.ConnectError("[Errno 111] Connection refused (injected)", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _settings(data_dir: Path) -> Settings:
    # Forced mocks: credentials in the environment must not turn a cell into a live call.
    return Settings(_env_file=None, data_dir=data_dir, demo_today=TODAY, mcp_force_mocks=True)


def _connector_class(name: str) -> type[Connector]:
    return next(c for c in builtin_connectors() if c.name == name)


async def run_cell(cell: Cell, data_dir: Path) -> Result:
    """Run one cell in the running loop (which should be under looptime)."""
    settings = _settings(data_dir)
    cls = _connector_class(cell.connector)
    clock = LoopClock()
    wall = demo_wall(settings.demo_today, clock)
    config = environment_store(settings).connector(cls.name)
    fake = build_fake(cls.name, config, demo_today=settings.demo_today, wall=wall)
    fake.faults = _plan(cell.fault, cell.pattern)
    refuse = 0 if cell.fault != "refused" else (-1 if cell.pattern == "every" else BURST)
    wire = ChaosWire(InProcessTransport(fake.app), refuse=refuse)
    wire.api_host = httpx2.URL(cls.fake_base_url(config)).host
    operation, params = cls.probe or ("", {})
    knobs = settings.knobs(cell.connector)
    async with open_runtime(
        settings,
        connectors=[cls],
        transports={cell.connector: wire},
        clock=clock,
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
        wall=wall,
    ) as rt:
        connector = rt.registry.get(cell.connector)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await connector.call(operation, params)
            outcome, message = OK, ""
        except ConnectorError as err:
            outcome, message = err.kind.value, err.message
        elapsed = loop.time() - started
    return Result(outcome, wire.attempts, round(elapsed, 3), knobs.deadline, message)


def run_matrix(data_dir: Path, cells: tuple[Cell, ...] = CELLS) -> dict[Cell, Result]:
    """Every cell, one after another, in a fresh looptime event loop (for the command)."""
    import looptime

    results: dict[Cell, Result] = {}
    for i, cell in enumerate(cells):
        loop = looptime.new_event_loop(start=0.0)
        try:
            results[cell] = loop.run_until_complete(run_cell(cell, data_dir / str(i)))
        finally:
            loop.close()
    return results


# -- the table ---------------------------------------------------------------------------------------------
def render_table(results: dict[Cell, Result]) -> str:
    """Markdown: one row per cell, what was expected, what happened, and whether they agree."""
    lines = [
        "| connector | fault | pattern | expected | got | attempts | time (s) | deadline (s) | right |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    right = 0
    for cell in CELLS:
        expect = EXPECTED[cell]
        got = results[cell]
        ok = got.meets(expect)
        right += ok
        mark = "✓" if ok else ("✗ (known: " + expect.xfail + ")" if expect.xfail else "✗")
        lines.append(
            f"| {cell.connector} | {cell.fault} | {cell.pattern} | {expect.outcome} ({expect.attempts}) | "
            f"{got.outcome} | {got.attempts} | {got.elapsed_s:.1f} | {got.deadline_s:g} | {mark} |"
        )
    lines.append("")
    lines.append(f"{right}/{len(CELLS)} cells right.")
    return "\n".join(lines)


def replace_section(document: str, table: str) -> str:
    """``document`` with the text between the matrix markers replaced by ``table``."""
    head, sep, rest = document.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{DOC.name} lacks the markers {BEGIN!r} … {END!r}")
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def section(document: str) -> str:
    """The table currently between the markers."""
    _, _, rest = document.partition(BEGIN)
    return rest.partition(END)[0].strip("\n")
