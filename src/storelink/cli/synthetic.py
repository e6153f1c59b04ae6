"""``storelink synthetic``: prove the resilience works, with a timeline of what it did.

For each connector, a scripted set of calls runs through its fake in mock mode with a FaultPlan
per phase, and every attempt, wait and breaker transition is recorded with its time:

1. **Retry-After**: the fake answers 429 with ``Retry-After``; the call waits as long as the
   upstream says (each connector reads its own upstream's signal) and its retry succeeds.
2. **Backoff**: two 503s; the retries wait full-jitter backoff (``uniform(0, base·2ⁿ)``).
3. **Throttle wait**: another client has spent the rate-limit budget; the call waits in the
   local limiter for the budget to refill before anything is sent.
4. **Breaker**: every attempt fails until the breaker opens; a call fails fast; after the open
   period the breaker lets probe calls through (half-open); they succeed and it closes.

Each phase runs on a fresh runtime, so what one leaves behind (a limiter holding calls for a
minute, an open breaker) cannot spoil the next. The recording taps the runtime's own seams,
never the pipeline: a transport between the pipeline and the fake sees each attempt, a clock
sees each wait, and the metrics registry sees retries, limiter waits and breaker transitions as
they are counted. ``virtual_time`` runs the waits on a
fake clock (instant, for tests); by default they are real.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from storelink.clock import Clock, FakeClock, LoopClock
from storelink.connectors.base import Connector
from storelink.connectors.http import SharedTransport
from storelink.errors import ConnectorError
from storelink.fakes.base import FakeUpstream, InProcessTransport
from storelink.fakes.data import demo_wall
from storelink.fakes.faults import Fault, FaultPlan
from storelink.mock_mode import build_fake
from storelink.observability.history import read_counters
from storelink.observability.metrics import Metrics, OperationMetrics
from storelink.runtime import open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.stores import environment_store

__all__ = [
    "SYNTHETIC_KNOBS",
    "ConnectorRun",
    "Event",
    "Phase",
    "SyntheticReport",
    "run_synthetic",
]

EventKind = Literal["phase", "call", "attempt", "retry_wait", "limiter_wait", "throttled", "breaker", "outcome", "note"]

# Small numbers, so every mechanism shows within seconds; the phases below are written for them.
SYNTHETIC_KNOBS: dict[str, Any] = {
    "max_retries": 2,
    "backoff_base": 0.2,
    "backoff_cap": 2.0,
    "retry_budget_burst": 50.0,
    "breaker_window": 4,
    "breaker_min_calls": 4,
    "breaker_failure_rate": 50.0,
    "breaker_open_s": 3.0,
    "breaker_half_open_calls": 2,
    "cache_ttl": 0.0,
    "deadline": 30.0,
    "timeout": 5.0,
}
RETRY_AFTER_S = 1.5
NEIGHBOUR_HOLD_S = 0.5  # how long the limiter must hold the throttled call


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds since the connector's run began
    kind: EventKind
    text: str
    seconds: float | None = None  # a wait's length, an attempt's duration
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Phase:
    title: str
    goal: str
    events: list[Event] = field(default_factory=list)


@dataclass
class ConnectorRun:
    connector: str
    title: str
    phases: list[Phase] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def events(self, kind: EventKind | None = None) -> list[Event]:
        return [e for p in self.phases for e in p.events if kind is None or e.kind == kind]


@dataclass
class SyntheticReport:
    runs: list[ConnectorRun]
    virtual_time: bool
    wall_s: float


class _Recorder:
    """Collects events of the current phase, timed on the run's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.origin = clock.now()
        self.phase: Phase | None = None
        self._pending_wait: str | None = None  # "retry_wait" or "limiter_wait", set before a sleep

    def now(self) -> float:
        return self.clock.now() - self.origin

    def add(self, event: EventKind, text: str, seconds: float | None = None, **data: Any) -> None:
        if self.phase is not None:
            self.phase.events.append(Event(self.now(), event, text, seconds, data))

    def expect_wait(self, kind: str) -> None:
        self._pending_wait = kind

    def waited(self, seconds: float) -> None:
        kind = self._pending_wait
        self._pending_wait = None
        if kind is None or self.phase is None:
            return
        for i in range(len(self.phase.events) - 1, -1, -1):
            e = self.phase.events[i]
            if e.kind == kind and e.seconds is None:
                self.phase.events[i] = Event(e.at, e.kind, e.text, seconds, e.data)
                return


class _RecordingClock:
    def __init__(self, inner: Clock, recorder: Callable[[], _Recorder | None]) -> None:
        self.inner = inner
        self._recorder = recorder

    def now(self) -> float:
        return self.inner.now()

    async def sleep(self, seconds: float) -> None:
        recorder = self._recorder()
        if recorder is not None:
            recorder.waited(seconds)
        await self.inner.sleep(seconds)


class _RecordingOperation(OperationMetrics):
    def __init__(self, metrics: _RecordingMetrics, connector: str, operation: str) -> None:
        super().__init__(metrics, connector, operation)
        self._tap = metrics

    def retry(self, reason: str) -> None:
        super().retry(reason)
        if (r := self._tap.recorder) is not None:
            r.add("retry_wait", f"retry ({reason})", reason=reason)
            r.expect_wait("retry_wait")

    def throttled(self) -> None:
        super().throttled()
        if (r := self._tap.recorder) is not None:
            r.add("throttled", "the upstream refused for rate")

    def limiter_waited(self, seconds: float) -> None:
        super().limiter_waited(seconds)
        if (r := self._tap.recorder) is not None:
            r.add("limiter_wait", "held by the local rate limiter until the budget refills")
            r.expect_wait("limiter_wait")


class _RecordingMetrics(Metrics):
    """The ordinary registry, telling the recorder what it counts as it counts it."""

    def __init__(self) -> None:
        super().__init__()
        self.recorder: _Recorder | None = None

    def _new_operation(self, connector: str, operation: str) -> OperationMetrics:
        return _RecordingOperation(self, connector, operation)

    def breaker_transition(self, connector: str, old: str, new: str, gauge: int) -> None:
        super().breaker_transition(connector, old, new, gauge)
        if self.recorder is not None:
            self.recorder.add("breaker", f"breaker {old} → {new}", old=old, new=new)


class _RecordingTransport(httpx2.AsyncBaseTransport):
    """Between the pipeline and the fake: sees every attempt that reaches the wire."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, recorder: Callable[[], _Recorder | None]) -> None:
        self.inner = inner
        self._recorder = recorder
        self.attempts = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        recorder = self._recorder()
        self.attempts += 1
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            if recorder is not None:
                recorder.add(
                    "attempt",
                    f"attempt → {type(exc).__name__}",
                    time.perf_counter() - started,
                    error=type(exc).__name__,
                )
            raise
        if recorder is not None:
            retry_after = response.headers.get("retry-after")
            text = f"attempt → {response.status_code}"
            if retry_after:
                text += f" (Retry-After: {retry_after} s)"
            recorder.add(
                "attempt", text, time.perf_counter() - started, status=response.status_code, retry_after=retry_after
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def synthetic_settings(settings: Settings, names: Sequence[str]) -> Settings:
    """Mock mode for every connector, with :data:`SYNTHETIC_KNOBS`."""
    update: dict[str, Any] = {"mcp_force_mocks": True, "fake_faults": None}
    for name in names:
        update[name] = settings.knobs(name).model_copy(update=SYNTHETIC_KNOBS)
    return settings.model_copy(update=update)


async def _call(connector: Connector, recorder: _Recorder) -> bool:
    operation, params = connector.probe or ("", {})
    recorder.add("call", f"call {operation}")
    started = recorder.now()
    try:
        envelope = await connector.call(operation, params)
    except ConnectorError as err:
        recorder.add(
            "outcome",
            f"failed: {err.kind.value}: {err.message}",
            recorder.now() - started,
            kind=err.kind.value,
        )
        return False
    recorder.add(
        "outcome",
        f"ok after {envelope.meta.attempts} attempt(s)",
        recorder.now() - started,
        kind="ok",
        attempts=envelope.meta.attempts,
    )
    return True


PhaseBody = Callable[[Connector, FakeUpstream, _Recorder, Clock], Awaitable[None]]


async def _retry_after(connector: Connector, fake: FakeUpstream, recorder: _Recorder, clock: Clock) -> None:
    fake.faults = FaultPlan.scripted(Fault.RATE_LIMITED, retry_after_s=RETRY_AFTER_S)
    await _call(connector, recorder)


async def _backoff(connector: Connector, fake: FakeUpstream, recorder: _Recorder, clock: Clock) -> None:
    fake.faults = FaultPlan.scripted(Fault.UNAVAILABLE, Fault.UNAVAILABLE)
    await _call(connector, recorder)


async def _throttle_wait(connector: Connector, fake: FakeUpstream, recorder: _Recorder, clock: Clock) -> None:
    fake.faults = FaultPlan()
    await _call(connector, recorder)  # the limiter learns the upstream's own budget, where it reports one
    limiter = connector.limiter
    headroom = limiter.headroom()
    if headroom is None or not headroom.restore_per_s:
        recorder.add("note", "this connector's limiter reports no budget; no throttle wait to show")
        return
    # What is left, and then as much as refills in NEIGHBOUR_HOLD_S: the budget is in debt.
    spend = (headroom.available, min(headroom.maximum, headroom.restore_per_s * NEIGHBOUR_HOLD_S))
    held = [await limiter.reserve(cost, operation="neighbour", deadline=None) for cost in spend]
    recorder.add(
        "note",
        f"another client spends the {held[0].cost:,.0f} {headroom.unit} left and {held[1].cost:,.0f} more "
        f"(the bucket holds {headroom.maximum:,.0f}, refilling {headroom.restore_per_s:,.0f}/s)",
    )
    try:
        before = len(recorder.phase.events) if recorder.phase else 0
        await _call(connector, recorder)
        if recorder.phase and not any(e.kind == "limiter_wait" for e in recorder.phase.events[before:]):
            recorder.add("note", "this connector's limiter let the call through without waiting")
    finally:
        for reservation in held:
            await limiter.cancel(reservation)


async def _breaker(connector: Connector, fake: FakeUpstream, recorder: _Recorder, clock: Clock) -> None:
    fake.faults = FaultPlan(rates={Fault.UNAVAILABLE: 1.0})
    policy = connector.breaker.policy
    for _ in range(policy.min_calls * 3):
        await _call(connector, recorder)
        if connector.breaker.state.value == "open":
            break
    else:
        recorder.add("note", "the breaker did not open (its window never filled with upstream faults)")
        return
    await _call(connector, recorder)  # fails fast: nothing is sent
    wait = connector.breaker.open_remaining()
    recorder.add("note", f"wait out the open period ({wait:.1f} s) while the upstream recovers")
    fake.faults = FaultPlan()
    started = clock.now()
    await clock.sleep(wait + 0.05)
    recorder.add("note", "the upstream is healthy again", clock.now() - started)
    for _ in range(policy.half_open_calls + 1):
        await _call(connector, recorder)
        if connector.breaker.state.value == "closed":
            break


# Each phase runs on a fresh runtime (same clock, metrics and fake), so what one phase leaves
# behind (a limiter told to hold calls for a minute, an open breaker) cannot spoil the next.
PHASES: tuple[tuple[str, str, PhaseBody], ...] = (
    (
        "Retry-After",
        f"The fake refuses for rate (429, with Retry-After: {RETRY_AFTER_S:g} where the upstream sends one); "
        "the retry waits as long as the upstream's answer says.",
        _retry_after,
    ),
    ("backoff", "Two 503s: the retries wait full-jitter backoff, growing with each attempt.", _backoff),
    (
        "throttle wait",
        "Another client has spent the rate-limit budget: the call waits in the local limiter.",
        _throttle_wait,
    ),
    (
        "breaker",
        "Every attempt fails until the breaker opens; calls then fail fast until it probes and closes.",
        _breaker,
    ),
)


def _metrics_summary(metrics: Metrics, name: str) -> dict[str, Any]:
    counters = read_counters(metrics).get(name)
    window = metrics.connector_window(name, "1h")
    transitions: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "storelink_breaker_transitions_total" and sample.labels.get("connector") == name:
                transitions[f"{sample.labels['from_state']}→{sample.labels['to_state']}"] = sample.value
    retries: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "storelink_retries_total" and sample.labels.get("connector") == name:
                retries[sample.labels["reason"]] = retries.get(sample.labels["reason"], 0.0) + sample.value
    return {
        "calls": counters.requests if counters else 0,
        "outcomes": dict(counters.outcomes) if counters else {},
        "attempts": counters.attempts if counters else 0,
        "retries": retries,
        "throttles": counters.throttles if counters else 0,
        "limiter_wait_s": round(counters.limiter_wait_s, 3) if counters else 0,
        "breaker_transitions": transitions,
        "p50_ms": window.p50_ms,
        "p95_ms": window.p95_ms,
    }


async def _drive(
    cls: type[Connector], fake: FakeUpstream, settings: Settings, run: ConnectorRun, virtual_time: bool
) -> None:
    box: list[_Recorder] = []  # filled once the first runtime (and so the run's clock origin) exists

    def current() -> _Recorder | None:
        return box[0] if box else None

    clock = _RecordingClock(FakeClock() if virtual_time else LoopClock(), current)
    metrics = _RecordingMetrics()
    transport = SharedTransport(_RecordingTransport(InProcessTransport(fake.app), current))
    for title, goal, body in PHASES:
        async with open_runtime(
            synthetic_settings(settings, [cls.name]),
            connectors=[cls],
            transports={cls.name: transport},
            clock=clock,
            metrics=metrics,
            store=EmbeddedStore(None),
        ) as runtime:
            if not box:
                box.append(_Recorder(clock))
            recorder = box[0]
            metrics.recorder = recorder
            connector = runtime.registry.get(cls.name)
            if connector.probe is None:
                run.skipped = "the connector declares no probe operation to call"
                return
            recorder.phase = Phase(title, goal)
            run.phases.append(recorder.phase)
            await body(connector, fake, recorder, clock)
    run.metrics = _metrics_summary(metrics, cls.name)


async def run_synthetic(
    settings: Settings,
    connectors: Sequence[type[Connector]],
    *,
    virtual_time: bool = False,
    fakes: dict[str, FakeUpstream] | None = None,
) -> SyntheticReport:
    """Run the scripted phases for each connector class; ``fakes`` replaces a connector's fake."""
    wall = time.perf_counter()
    store = environment_store(settings)
    runs: list[ConnectorRun] = []
    for cls in connectors:
        run = ConnectorRun(connector=cls.name, title=cls.title)
        runs.append(run)
        try:
            fake = (fakes or {}).get(cls.name) or build_fake(
                cls.name, store.connector(cls.name), demo_today=settings.demo_today, wall=demo_wall(settings.demo_today)
            )
        except (KeyError, ImportError) as exc:
            run.skipped = f"no fake to drive ({type(exc).__name__})"
            continue
        await _drive(cls, fake, settings, run, virtual_time)
    return SyntheticReport(runs=runs, virtual_time=virtual_time, wall_s=time.perf_counter() - wall)
