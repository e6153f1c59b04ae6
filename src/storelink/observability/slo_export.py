"""Generate the Prometheus rules and the Grafana dashboard from the SLO spec.

Rules, per resilience.md §5.2 (metric names as :mod:`storelink.observability.metrics` exports):

* ``storelink_slo:availability_error_ratio:rate<w>`` and ``storelink_slo:latency_error_ratio:rate<w>``
  for every alert window, per connector, summed across replicas before dividing;
* ``storelink_slo:error_budget`` per connector and SLO (a constant, for graphs and burn ratios);
* per connector and SLO, one multi-window, multi-burn-rate alert per severity;
* ``StorelinkCircuitOpen`` for a breaker that stays open, the symptom the burn alerts explain.

Output is deterministic, so a test can hold the committed files equal to what this generates::

    python -m storelink.observability.slo_export --rules   > deploy/prometheus/rules.yml
    python -m storelink.observability.slo_export --grafana > deploy/grafana/storelink.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from storelink.observability.slo import BurnAlert, Slo, SloSpec, load_slos

__all__ = ["main", "render_grafana", "render_rules"]

HEADER = (
    "# Generated from src/storelink/observability/slos.yaml by\n"
    "#   python -m storelink.observability.slo_export --rules > deploy/prometheus/rules.yml\n"
    "# Do not edit by hand: change slos.yaml and regenerate (a test compares the two).\n"
)
RUNBOOK = "docs/operations.md#when-an-alert-fires"  # relative: the repository's own runbook


def _regex(values: Iterable[str]) -> str:
    return "|".join(values)


def _le(threshold_s: float) -> str:
    """The ``le`` label exactly as prometheus_client renders the bucket (1.0, 2.5, 0.5)."""
    return repr(float(threshold_s))


def availability_ratio(spec: SloSpec, window: str) -> str:
    bad = _regex(spec.bad_outcomes)
    return (
        f'sum by (store, connector) (rate(storelink_requests_total{{outcome=~"{bad}"}}[{window}]))\n'
        f"/\n"
        f"sum by (store, connector) (rate(storelink_requests_total[{window}]))"
    )


def latency_ratio(slo: Slo, window: str) -> str:
    assert slo.threshold_s is not None
    c = slo.connector
    return (
        "1 - (\n"
        f'  sum by (store, connector) (rate(storelink_request_duration_seconds_bucket{{connector="{c}",'
        f'le="{_le(slo.threshold_s)}"}}[{window}]))\n'
        "  /\n"
        f'  sum by (store, connector) (rate(storelink_request_duration_seconds_count{{connector="{c}"}}[{window}]))\n'
        ")"
    )


def ratio_metric(kind: str, window: str) -> str:
    return f"storelink_slo:{kind}_error_ratio:rate{window}"


def _alert_expr(slo: Slo, alerts: list[BurnAlert]) -> str:
    sel = f'{{connector="{slo.connector}"}}'
    parts = []
    for a in alerts:
        threshold = f"({a.burn_rate:g} * {slo.budget:g})"
        parts.append(
            "(\n"
            f"  {ratio_metric(slo.kind, a.long)}{sel} > {threshold}\n"
            "  and\n"
            f"  {ratio_metric(slo.kind, a.short)}{sel} > {threshold}\n"
            ")"
        )
    return "\nor\n".join(parts)


def _alert_name(slo: Slo) -> str:
    return "StorelinkAvailabilityBudgetBurn" if slo.kind == "availability" else "StorelinkLatencyBudgetBurn"


def rules_document(spec: SloSpec) -> dict[str, Any]:
    windows = spec.burn_windows
    recording: list[dict[str, Any]] = []
    for w in windows:
        recording.append({"record": ratio_metric("availability", w), "expr": availability_ratio(spec, w)})
    for slo in spec.slos:
        if slo.kind != "latency":
            continue
        for w in windows:
            recording.append(
                {"record": ratio_metric("latency", w), "expr": latency_ratio(slo, w), "labels": {"slo": slo.name}}
            )
    for slo in spec.slos:
        recording.append(
            {
                "record": "storelink_slo:error_budget",
                "expr": f"vector({slo.budget:g})",
                "labels": {"connector": slo.connector, "slo": slo.kind},
            }
        )
    alerting: list[dict[str, Any]] = []
    severities = dict.fromkeys(a.severity for a in spec.alerts)
    for slo in spec.slos:
        for severity in severities:
            group = [a for a in spec.alerts if a.severity == severity]
            windows_text = ", ".join(f"{a.long}/{a.short} at {a.burn_rate:g}x" for a in group)
            alerting.append(
                {
                    "alert": _alert_name(slo),
                    "expr": _alert_expr(slo, group),
                    "labels": {"severity": severity, "connector": slo.connector, "slo": slo.name},
                    "annotations": {
                        "summary": f"{{{{ $labels.store }}}} {slo.connector}: {slo.kind} error budget burning "
                        f"({severity})",
                        "description": (
                            f"SLO {slo.name} ({slo.describe()} over {spec.window}) is spending its error budget "
                            f"too fast: burn rate above threshold on both windows ({windows_text}). Open the "
                            f"dashboard's /app/connectors/{slo.connector} page for recent errors, and run "
                            f"`storelink live-check {slo.connector}`."
                        ),
                        "runbook": RUNBOOK,
                    },
                }
            )
    alerting.append(
        {
            "alert": "StorelinkCircuitOpen",
            "expr": "max by (store, connector) (storelink_breaker_state) == 2",
            "for": "5m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "{{ $labels.store }} {{ $labels.connector }}: circuit breaker open for 5 minutes",
                "description": (
                    "Calls to {{ $labels.connector }} fail fast because most recent calls failed. Check the "
                    "upstream's status page and `storelink health`; the breaker closes by itself once probes succeed."
                ),
                "runbook": RUNBOOK,
            },
        }
    )
    return {
        "groups": [
            {"name": "storelink-slo-sli", "interval": "30s", "rules": recording},
            {"name": "storelink-slo-alerts", "rules": alerting},
        ]
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_rules(spec: SloSpec) -> str:
    body = yaml.dump(rules_document(spec), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


# -- Grafana ---------------------------------------------------------------------------------------
_DS = {"type": "prometheus", "uid": "${datasource}"}
_SEL = 'store=~"$store",connector=~"$connector"'
_BY = "sum by (store, connector)"  # every panel draws a line per store and connector


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(
    pid: int,
    title: str,
    targets: list[tuple[str, str]],
    *,
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
    }
    if extra:
        panel.update(extra)
    return panel


def dashboard_document(spec: SloSpec) -> dict[str, Any]:
    ri = "$__rate_interval"
    bad = _regex(spec.bad_outcomes)
    panels: list[dict[str, Any]] = []

    def row(pid: int, title: str, y: int) -> None:
        panels.append(
            {"id": pid, "type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}
        )

    row(1, "RED: rate, errors, duration", 0)
    panels.append(
        _panel(
            2,
            "Requests by outcome",
            [
                (
                    f"sum by (store, connector, outcome) (rate(storelink_requests_total{{{_SEL}}}[{ri}]))",
                    "{{store}}/{{connector}} {{outcome}}",
                )
            ],
            x=0,
            y=1,
            unit="reqps",
            description="Calls per second by outcome kind (ok, or the error kind).",
        )
    )
    panels.append(
        _panel(
            3,
            "Availability error ratio vs budget",
            [
                (f"{ratio_metric('availability', '5m')}{{{_SEL}}}", "{{store}}/{{connector}} error ratio (5m)"),
                (f'storelink_slo:error_budget{{slo="availability",{_SEL}}}', "{{store}}/{{connector}} budget"),
            ],
            x=12,
            y=1,
            unit="percentunit",
            description=f"Share of calls ending in {bad.replace('|', ', ')}; the budget line is 1 − objective.",
        )
    )
    panels.append(
        _panel(
            4,
            "Latency p50 / p95 / p99",
            [
                (
                    f"histogram_quantile({q}, sum by (store, connector, le) "
                    f"(rate(storelink_request_duration_seconds_bucket{{{_SEL}}}[{ri}])))",
                    f"{{{{connector}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            x=0,
            y=9,
            unit="s",
            description="Whole-call latency, retries and waits included (interpolated inside a bucket).",
        )
    )
    panels.append(
        _panel(
            5,
            "Latency SLI: share of slow calls (5m)",
            [(f"{ratio_metric('latency', '5m')}{{{_SEL}}}", "{{store}}/{{connector}}")],
            x=12,
            y=9,
            unit="percentunit",
            description="Share of calls slower than the connector's latency threshold (slos.yaml).",
        )
    )
    row(6, "SLO burn", 17)
    burn_targets = [
        (
            f"{ratio_metric('availability', w)}{{{_SEL}}} / on (connector) "
            f'storelink_slo:error_budget{{slo="availability",{_SEL}}}',
            f"{{{{connector}}}} {w}",
        )
        for w in spec.burn_windows
    ]
    panels.append(
        _panel(
            7,
            "Availability burn rate",
            burn_targets,
            x=0,
            y=18,
            description="1 spends the budget exactly over the SLO window; pages fire above 14.4 (1h and 5m) and 6.",
        )
    )
    panels.append(
        _panel(
            8,
            f"Availability error budget left ({spec.window})",
            [
                (
                    f'1 - (({_BY} (increase(storelink_requests_total{{outcome=~"{bad}",{_SEL}}}'
                    f"[{spec.window}])) / {_BY} (increase(storelink_requests_total{{{_SEL}}}"
                    f'[{spec.window}]))) / on (connector) storelink_slo:error_budget{{slo="availability",{_SEL}}})',
                    "{{store}}/{{connector}}",
                )
            ],
            x=12,
            y=18,
            unit="percentunit",
            kind="stat",
        )
    )
    row(9, "Resilience", 26)
    panels.append(
        _panel(
            10,
            "Circuit breaker state",
            [(f"max by (store, connector) (storelink_breaker_state{{{_SEL}}})", "{{store}}/{{connector}}")],
            x=0,
            y=27,
            w=8,
            kind="state-timeline",
            extra={
                "fieldConfig": {
                    "defaults": {
                        "mappings": [
                            {
                                "type": "value",
                                "options": {
                                    "0": {"text": "closed", "color": "green"},
                                    "1": {"text": "half-open", "color": "yellow"},
                                    "2": {"text": "open", "color": "red"},
                                },
                            }
                        ]
                    },
                    "overrides": [],
                }
            },
        )
    )
    panels.append(
        _panel(
            11,
            "Retries by reason vs attempts",
            [
                (
                    f"sum by (store, connector, reason) (rate(storelink_retries_total{{{_SEL}}}[{ri}]))",
                    "{{store}}/{{connector}} {{reason}}",
                ),
                (f"{_BY} (rate(storelink_attempts_total{{{_SEL}}}[{ri}]))", "{{store}}/{{connector}} attempts"),
            ],
            x=8,
            y=27,
            w=8,
            unit="reqps",
        )
    )
    panels.append(
        _panel(
            12,
            "Throttles and limiter wait",
            [
                (f"{_BY} (rate(storelink_throttles_total{{{_SEL}}}[{ri}]))", "{{store}}/{{connector}} throttled/s"),
                (
                    f"{_BY} (rate(storelink_limiter_wait_seconds_total{{{_SEL}}}[{ri}]))",
                    "{{store}}/{{connector}} limiter wait s/s",
                ),
            ],
            x=16,
            y=27,
            w=8,
        )
    )
    panels.append(
        _panel(
            13,
            "Rate-limit headroom",
            [
                (
                    f"max by (store, connector) (storelink_ratelimit_available{{{_SEL}}}) / on (store, connector) "
                    f"max by (store, connector) (storelink_ratelimit_maximum{{{_SEL}}})",
                    "{{store}}/{{connector}}",
                )
            ],
            x=0,
            y=35,
            unit="percentunit",
            description="Budget left as the upstream last reported it (Shopify points, GA4 tokens).",
        )
    )
    panels.append(
        _panel(
            14,
            "Cache hit ratio",
            [
                (
                    f'{_BY} (rate(storelink_cache_total{{result=~"fresh|revalidated",{_SEL}}}[{ri}])) / '
                    f"{_BY} (rate(storelink_cache_total{{{_SEL}}}[{ri}]))",
                    "{{store}}/{{connector}}",
                )
            ],
            x=12,
            y=35,
            unit="percentunit",
        )
    )
    return {
        "title": "storelink",
        "uid": "storelink-red",
        "description": "storelink connectors: RED, SLO burn and resilience (generated from slos.yaml).",
        "tags": ["storelink"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
                {
                    "name": "store",
                    "type": "query",
                    "label": "Store",
                    "datasource": _DS,
                    "query": {"query": "label_values(storelink_requests_total, store)", "refId": "stores"},
                    "definition": "label_values(storelink_requests_total, store)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
                {
                    "name": "connector",
                    "type": "query",
                    "label": "Connector",
                    "datasource": _DS,
                    "query": {"query": "label_values(storelink_requests_total, connector)", "refId": "connectors"},
                    "definition": "label_values(storelink_requests_total, connector)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render_grafana(spec: SloSpec) -> str:
    return json.dumps(dashboard_document(spec), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storelink.observability.slo_export", description=(__doc__ or "").split("\n")[0]
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--rules", action="store_true", help="print Prometheus recording and alerting rules")
    group.add_argument("--grafana", action="store_true", help="print the Grafana dashboard JSON")
    group.add_argument("--list", action="store_true", help="list the SLOs")
    parser.add_argument("--spec", type=Path, help="an SLO file (default: the shipped slos.yaml)")
    args = parser.parse_args(argv)
    spec = load_slos(args.spec)
    if args.rules:
        sys.stdout.write(render_rules(spec))
    elif args.grafana:
        sys.stdout.write(render_grafana(spec))
    else:
        for slo in spec.slos:
            sys.stdout.write(f"{slo.name}: {slo.describe()} over {spec.window}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
