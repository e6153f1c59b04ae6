"""``storelink soak``: bounded load through the fakes on loopback, with the figures that matter.

Each connector's fake runs as a real HTTP server on a free loopback port (the same app as
``storelink fakes serve``), and the connectors point at it through their ``base_url`` knob, so
every call crosses the whole stack: validation, pipeline, pooled httpx2 client, sockets, the
fake's ASGI server. Calls are sent open-loop at ``rps`` for ``seconds`` (a slow answer does not
slow the offered load), with at most ``max_in_flight`` outstanding; a call that would exceed it
is counted as *shed*, not queued, so a stall shows up instead of hiding in a queue.

Fakes and client share this process (and its one event loop), so the latency includes the
fake's own work, and the RSS figures are of both together.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import resource
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from storelink.connectors.base import Connector
from storelink.errors import ConnectorError
from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import demo_wall
from storelink.fakes.faults import parse_fault_spec
from storelink.mock_mode import build_fake
from storelink.observability.history import read_counters
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.stores import environment_store

__all__ = ["Progress", "SoakResult", "SoakRow", "rss_mb", "run_soak", "served_fakes"]


def rss_mb() -> float:
    """Resident set size now (Linux ``/proc``), else the peak the OS reports."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class SoakRow:
    connector: str
    operation: str
    latencies_s: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    @property
    def errors(self) -> int:
        return self.calls - self.outcomes.get("ok", 0)

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    def quantiles_ms(self) -> tuple[float | None, float | None, float | None]:
        ordered = sorted(self.latencies_s)
        return tuple(  # type: ignore[return-value]
            None if (v := percentile(ordered, q)) is None else round(v * 1000.0, 2) for q in (0.50, 0.95, 0.99)
        )

    def merge(self, other: SoakRow) -> None:
        self.latencies_s.extend(other.latencies_s)
        for k, v in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v


@dataclass
class SoakResult:
    seconds: float
    target_rps: float
    elapsed_s: float  # from the first call sent to the last one finished
    sent_s: float  # from the first call sent to the last
    offered: int
    shed: int
    unfinished: int  # still in flight when the drain gave up; cancelled, not counted
    rows: list[SoakRow]
    rss_start_mb: float
    rss_end_mb: float
    fakes: dict[str, str]
    pipeline: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    crashes: dict[str, str] = field(default_factory=dict)  # unexpected exceptions, first of each call

    @property
    def total(self) -> SoakRow:
        row = SoakRow("all", "all")
        for r in self.rows:
            row.merge(r)
        return row

    @property
    def throughput(self) -> float:
        return self.total.calls / self.elapsed_s if self.elapsed_s else 0.0

    def to_json(self) -> dict[str, Any]:
        def row_json(r: SoakRow) -> dict[str, Any]:
            p50, p95, p99 = r.quantiles_ms()
            return {
                "connector": r.connector,
                "operation": r.operation,
                "calls": r.calls,
                "errors": r.errors,
                "error_rate": round(r.error_rate, 6),
                "outcomes": r.outcomes,
                "throughput_rps": round(r.calls / self.elapsed_s, 2) if self.elapsed_s else 0.0,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }

        return {
            "seconds": self.seconds,
            "target_rps": self.target_rps,
            "elapsed_s": round(self.elapsed_s, 3),
            "sent_s": round(self.sent_s, 3),
            "offered": self.offered,
            "shed": self.shed,
            "unfinished": self.unfinished,
            "rows": [row_json(r) for r in self.rows],
            "total": row_json(self.total),
            "rss_start_mb": round(self.rss_start_mb, 1),
            "rss_end_mb": round(self.rss_end_mb, 1),
            "fakes": self.fakes,
            "pipeline": self.pipeline,
            "skipped": self.skipped,
            "crashes": self.crashes,
        }


Progress = Callable[[float, int, int, int], None]  # (elapsed_s, completed, errors, in_flight)


@contextlib.asynccontextmanager
async def served_fakes(fakes: dict[str, FakeUpstream], *, host: str = "127.0.0.1") -> AsyncIterator[dict[str, str]]:
    """Serve each fake on a free port of ``host``; yield ``name -> base URL``."""
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []
    urls: dict[str, str] = {}
    try:
        for name, fake in fakes.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit this: without it, Nagle's algorithm and delayed ACKs add
            # ~40 ms to every small response on loopback.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            config = uvicorn.Config(fake.app, lifespan="off", log_level="warning", access_log=False)
            server = uvicorn.Server(config)
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            urls[name] = f"http://{host}:{port}"
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception():
                        raise RuntimeError(f"a fake failed to start: {t.exception()}")
            await asyncio.sleep(0.01)
        yield urls
    finally:
        for server in servers:
            server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5.0)


def soak_settings(settings: Settings, urls: dict[str, str], *, cache: bool = False) -> Settings:
    """Mock mode, no credentials (the fakes accept their demo ones), each connector at its fake;
    the response cache off unless asked for, so every call crosses the wire."""
    update: dict[str, Any] = {"mcp_force_mocks": True, "fake_faults": None}
    for name, info in type(settings).model_fields.items():
        if "SecretStr" in str(info.annotation) and isinstance(getattr(settings, name), SecretStr):
            update[name] = None
    for name, url in urls.items():
        knobs: dict[str, Any] = {"base_url": url} if cache else {"base_url": url, "cache_ttl": 0.0}
        update[name] = settings.knobs(name).model_copy(update=knobs)
    return settings.model_copy(update=update)


def plan_calls(connector: Connector, mix: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls one connector takes turns at: its probe, plus (``mix="examples"``) every read
    operation with a declared example."""
    calls: list[tuple[str, dict[str, Any]]] = []
    if connector.probe is not None:
        calls.append((connector.probe[0], dict(connector.probe[1])))
    if mix == "examples":
        for name, spec in sorted(connector.operations.items()):
            example = getattr(spec, "example", None)
            if not spec.write and example is not None and name not in {c[0] for c in calls}:
                calls.append((name, dict(example)))
    return calls


async def run_soak(
    settings: Settings,
    connectors: Sequence[type[Connector]],
    *,
    seconds: float,
    rps: float,
    mix: str = "probe",
    operations: Sequence[str] = (),
    faults: str | None = None,
    max_in_flight: int | None = None,
    cache: bool = False,
    progress: Progress | None = None,
) -> SoakResult:
    """Drive ``rps`` calls a second for ``seconds`` through loopback fakes; measure everything."""
    if seconds <= 0 or rps <= 0:
        raise ValueError("seconds and rps must be positive")
    cap = max_in_flight or max(16, int(rps * 4))
    rss_start = rss_mb()
    skipped: dict[str, str] = {}
    fakes: dict[str, FakeUpstream] = {}
    usable: list[type[Connector]] = []
    plans = parse_fault_spec(faults)
    store = environment_store(settings)
    for cls in connectors:
        try:
            fakes[cls.name] = build_fake(
                cls.name, store.connector(cls.name), demo_today=settings.demo_today, wall=demo_wall(settings.demo_today)
            )
        except (KeyError, ImportError) as exc:
            skipped[cls.name] = f"no fake ({type(exc).__name__})"
            continue
        if cls.name in plans:
            fakes[cls.name].faults = plans[cls.name]
        usable.append(cls)
    if not usable:
        raise ValueError("no connector has a fake to soak: " + ", ".join(f"{k}: {v}" for k, v in skipped.items()))

    rows: dict[tuple[str, str], SoakRow] = {}
    metrics = Metrics()
    async with (
        served_fakes(fakes) as urls,
        open_runtime(
            soak_settings(settings, urls, cache=cache), connectors=usable, metrics=metrics, store=EmbeddedStore(None)
        ) as runtime,
    ):
        schedule: list[tuple[Connector, str, dict[str, Any]]] = []
        wanted = {tuple(o.split(".", 1)) for o in operations if "." in o}
        for connector in runtime.registry:
            for op, params in plan_calls(connector, "examples" if wanted else mix):
                if not wanted or (connector.name, op) in wanted:
                    schedule.append((connector, op, params))
        if not schedule:
            raise ValueError("nothing to call: no probe operations, or --op names none that exist")
        for connector, op, _ in schedule:
            rows[(connector.name, op)] = SoakRow(connector.name, op)
        turn = itertools.cycle(schedule)
        in_flight: set[asyncio.Task[None]] = set()
        crashes: dict[str, str] = {}
        completed = errors = offered = shed = 0

        async def one(connector: Connector, op: str, params: dict[str, Any]) -> None:
            nonlocal completed, errors
            row = rows[(connector.name, op)]
            started = time.perf_counter()
            try:
                await connector.call(op, params)
                outcome = "ok"
            except ConnectorError as err:
                outcome = err.kind.value
                errors += 1
            except Exception as exc:  # noqa: BLE001  (a bug the soak found: count it, keep going)
                outcome = f"exception:{type(exc).__name__}"
                errors += 1
                crashes.setdefault(f"{connector.name}.{op}", f"{type(exc).__name__}: {exc}"[:300])
            row.latencies_s.append(time.perf_counter() - started)
            row.outcomes[outcome] = row.outcomes.get(outcome, 0) + 1
            completed += 1

        loop = asyncio.get_running_loop()
        begin = loop.time()
        ends = begin + seconds
        interval = 1.0 / rps
        next_report = begin
        while True:
            now = loop.time()
            due = begin + offered * interval
            if due >= ends:
                break
            if due > now:
                await asyncio.sleep(due - now)
            offered += 1
            if len(in_flight) >= cap:
                shed += 1
            else:
                connector, op, params = next(turn)
                task = asyncio.create_task(one(connector, op, params))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if progress is not None and loop.time() >= next_report:
                progress(loop.time() - begin, completed, errors, len(in_flight))
                next_report = loop.time() + 0.25
        sent_s = loop.time() - begin
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=max(30.0, seconds))
        unfinished = len(in_flight)
        for task in list(in_flight):
            task.cancel()
        if unfinished:
            await asyncio.wait(set(in_flight), timeout=5.0)
        elapsed = loop.time() - begin
        if progress is not None:
            progress(min(elapsed, seconds), completed, errors, len(in_flight))
        pipeline: dict[str, dict[str, Any]] = {}
        for name, counters in read_counters(metrics).items():
            pipeline[name] = {
                "attempts": counters.attempts,
                "retries": counters.retries,
                "throttles": counters.throttles,
                "limiter_wait_s": round(counters.limiter_wait_s, 3),
                "breaker": runtime.registry.get(name).breaker.state.value,
            }
    return SoakResult(
        seconds=seconds,
        target_rps=rps,
        elapsed_s=elapsed,
        sent_s=sent_s,
        offered=offered,
        shed=shed,
        unfinished=unfinished,
        rows=list(rows.values()),
        rss_start_mb=rss_start,
        rss_end_mb=rss_mb(),
        fakes=urls,
        pipeline=pipeline,
        skipped=skipped,
        crashes=crashes,
    )
