"""Service level objectives: the spec in ``slos.yaml`` and the burn over several windows.

Each connector has two SLOs (DESIGN.md §5, resilience.md §5):

* **availability**: the share of calls whose outcome is not one of ``bad_outcomes``;
* **latency**: the share of calls that took at most ``threshold_s``.

The error budget is ``1 − objective``; the burn rate over a window is the window's bad ratio
divided by the budget, so a burn of 1 spends exactly the budget over the SLO window. Alerts fire
when a long and a short window both burn faster than a rate (the SRE workbook's multi-window,
multi-burn-rate alerts). The same spec generates the Prometheus rules and the Grafana dashboard
(:mod:`storelink.observability.slo_export`, which reads this module), and this module evaluates
it in-process over the metric history for the dashboard's SLO page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from storelink.errors import ErrorKind
from storelink.observability.history import ConnectorCounters, Increase, MetricsHistory
from storelink.observability.metrics import LATENCY_BUCKETS

__all__ = [
    "AlertState",
    "BurnAlert",
    "Slo",
    "SloSpec",
    "SloStatus",
    "WindowBurn",
    "evaluate",
    "load_slos",
    "parse_window",
]

SloKind = Literal["availability", "latency"]
_WINDOW = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_window(text: str) -> float:
    """``5m``, ``6h``, ``3d`` → seconds (the Prometheus spelling, so rules can use it as is)."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"window {text!r} must look like 5m, 1h or 3d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


class BurnAlert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Literal["page", "ticket"]
    long: str
    short: str
    burn_rate: float = Field(gt=0)

    @field_validator("long", "short")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value


class LatencyTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    objective: float = Field(gt=0, lt=100)
    threshold_s: float = Field(gt=0)

    @field_validator("threshold_s")
    @classmethod
    def _on_bucket(cls, value: float) -> float:
        if not any(abs(value - b) < 1e-9 for b in LATENCY_BUCKETS):
            bounds = ", ".join(f"{b:g}" for b in LATENCY_BUCKETS)
            raise ValueError(f"threshold_s {value:g} is not a latency bucket boundary ({bounds})")
        return value


class ConnectorSlos(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str
    availability: float = Field(gt=0, lt=100)
    latency: LatencyTarget


class Slo(BaseModel):
    """One objective of one connector."""

    model_config = ConfigDict(frozen=True)

    connector: str
    kind: SloKind
    objective: float  # percent of calls
    threshold_s: float | None = None  # latency SLOs only

    @property
    def name(self) -> str:
        return f"{self.connector}-{self.kind}"

    @property
    def budget(self) -> float:
        """The error budget as a ratio of calls (99.5 % → 0.005)."""
        return round(1.0 - self.objective / 100.0, 12)

    def describe(self) -> str:
        if self.kind == "availability":
            return f"{self.objective:g} % of calls succeed"
        return f"{self.objective:g} % of calls finish within {self.threshold_s:g} s"


class SloSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str = "30d"
    bad_outcomes: tuple[str, ...]
    alerts: tuple[BurnAlert, ...]
    connectors: tuple[ConnectorSlos, ...]

    @field_validator("bad_outcomes")
    @classmethod
    def _known_outcomes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {k.value for k in ErrorKind}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; outcomes are error kinds: {sorted(known)}")
        return value

    @model_validator(mode="after")
    def _windows(self) -> SloSpec:
        parse_window(self.window)
        return self

    @property
    def window_s(self) -> float:
        return parse_window(self.window)

    @property
    def slos(self) -> list[Slo]:
        found: list[Slo] = []
        for c in self.connectors:
            found.append(Slo(connector=c.connector, kind="availability", objective=c.availability))
            found.append(
                Slo(
                    connector=c.connector,
                    kind="latency",
                    objective=c.latency.objective,
                    threshold_s=c.latency.threshold_s,
                )
            )
        return found

    @property
    def burn_windows(self) -> list[str]:
        """Every window an alert reads, shortest first (5m, 30m, 1h, 6h, 3d)."""
        names = {w for a in self.alerts for w in (a.long, a.short)}
        return sorted(names, key=parse_window)

    def for_connector(self, connector: str) -> list[Slo]:
        return [s for s in self.slos if s.connector == connector]


def load_slos(path: Path | None = None) -> SloSpec:
    """The shipped ``slos.yaml`` (or another file with the same shape)."""
    if path is None:
        text = resources.files("storelink.observability").joinpath("slos.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    raw = yaml.safe_load(text) or {}
    return SloSpec(
        window=raw.get("window", "30d"),
        bad_outcomes=tuple(raw.get("availability", {}).get("bad_outcomes", [])),
        alerts=tuple(BurnAlert.model_validate(a) for a in raw.get("alerts", [])),
        connectors=tuple(ConnectorSlos.model_validate(c) for c in raw.get("slos", [])),
    )


# -- in-process evaluation (the dashboard's SLO page) --------------------------------------------
@dataclass(frozen=True, slots=True)
class WindowBurn:
    window: str
    events: float
    bad: float
    partial: bool  # the history does not cover the whole window yet

    @property
    def bad_ratio(self) -> float | None:
        return self.bad / self.events if self.events else None

    def burn_rate(self, budget: float) -> float | None:
        ratio = self.bad_ratio
        return None if ratio is None else ratio / budget


@dataclass(frozen=True, slots=True)
class AlertState:
    alert: BurnAlert
    long_burn: float | None
    short_burn: float | None

    @property
    def firing(self) -> bool:
        rate = self.alert.burn_rate
        return (
            self.long_burn is not None
            and self.short_burn is not None
            and self.long_burn > rate
            and self.short_burn > rate
        )


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo: Slo
    windows: dict[str, WindowBurn]
    period: WindowBurn  # over the SLO window, as far as history reaches
    covered_s: float
    alerts: list[AlertState]

    def burn(self, window: str) -> float | None:
        return self.windows[window].burn_rate(self.slo.budget)

    @property
    def budget_left(self) -> float | None:
        """Share of the error budget not yet spent over the period (negative when overspent)."""
        ratio = self.period.bad_ratio
        return None if ratio is None else 1.0 - ratio / self.slo.budget

    @property
    def attainment(self) -> float | None:
        ratio = self.period.bad_ratio
        return None if ratio is None else 100.0 * (1.0 - ratio)

    @property
    def severity(self) -> str | None:
        """The most severe alert that would fire now (``page``, ``ticket``) or None."""
        firing = {a.alert.severity for a in self.alerts if a.firing}
        return "page" if "page" in firing else ("ticket" if firing else None)


def bad_and_events(slo: Slo, spec: SloSpec, counters: ConnectorCounters) -> tuple[float, float]:
    events = counters.requests
    if slo.kind == "availability":
        return counters.count_of(spec.bad_outcomes), events
    assert slo.threshold_s is not None
    fast = counters.within(slo.threshold_s) if counters.buckets else 0.0
    total = counters.buckets.get("+Inf", events)
    return max(0.0, total - fast), total


def _burn(slo: Slo, spec: SloSpec, window: str, increase: Increase) -> WindowBurn:
    bad, events = bad_and_events(slo, spec, increase.counters)
    return WindowBurn(window=window, events=events, bad=bad, partial=increase.partial)


def evaluate(
    spec: SloSpec,
    history: MetricsHistory,
    live: dict[str, ConnectorCounters],
    *,
    now: float | None = None,
) -> list[SloStatus]:
    """Every SLO's burn over the alert windows and its budget over the SLO window."""
    now = history.clock() if now is None else now
    statuses: list[SloStatus] = []
    windows = spec.burn_windows
    for connector in dict.fromkeys(c.connector for c in spec.connectors):
        current = live.get(connector, ConnectorCounters())
        increases = {w: history.increase(connector, parse_window(w), now=now, live=current) for w in windows}
        period = history.increase(connector, spec.window_s, now=now, live=current)
        for slo in spec.for_connector(connector):
            burns = {w: _burn(slo, spec, w, inc) for w, inc in increases.items()}
            alerts = [
                AlertState(a, burns[a.long].burn_rate(slo.budget), burns[a.short].burn_rate(slo.budget))
                for a in spec.alerts
            ]
            statuses.append(
                SloStatus(
                    slo=slo,
                    windows=burns,
                    period=_burn(slo, spec, spec.window, period),
                    covered_s=period.covered_s,
                    alerts=alerts,
                )
            )
    return statuses
