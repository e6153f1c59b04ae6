"""The shipped Prometheus rules and Grafana dashboard: equal to what slos.yaml generates, valid
for promtool, and the alerts fire (promtool's own rule unit tests) when the budget burns."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from storelink.observability.slo import load_slos
from storelink.observability.slo_export import dashboard_document, render_grafana, render_rules, rules_document

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "storelink.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)


def test_committed_rules_equal_generated() -> None:
    assert RULES.read_text() == render_rules(load_slos()), (
        "deploy/prometheus/rules.yml is stale: "
        "python -m storelink.observability.slo_export --rules > deploy/prometheus/rules.yml"
    )


def test_committed_dashboard_equals_generated() -> None:
    assert DASHBOARD.read_text() == render_grafana(load_slos()), (
        "deploy/grafana/storelink.json is stale: "
        "python -m storelink.observability.slo_export --grafana > deploy/grafana/storelink.json"
    )


def test_rules_cover_every_slo_window_and_severity() -> None:
    spec = load_slos()
    doc = yaml.safe_load(RULES.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    records = {(r["record"], r.get("labels", {}).get("slo")) for r in rules if "record" in r}
    for w in spec.burn_windows:
        assert (f"storelink_slo:availability_error_ratio:rate{w}", None) in records
        for c in spec.connectors:
            assert (f"storelink_slo:latency_error_ratio:rate{w}", f"{c.connector}-latency") in records
    alerts = {(r["alert"], r["labels"].get("connector"), r["labels"]["severity"]) for r in rules if "alert" in r}
    for c in spec.connectors:
        for name in ("StorelinkAvailabilityBudgetBurn", "StorelinkLatencyBudgetBurn"):
            assert (name, c.connector, "page") in alerts
            assert (name, c.connector, "ticket") in alerts
    # The latency SLI reads the bucket at the threshold, spelt as prometheus_client spells it.
    assert 'le="2.5"' in RULES.read_text() and 'le="1.0"' in RULES.read_text()


@needs_promtool
def test_promtool_check_rules() -> None:
    result = subprocess.run(  # noqa: S603  (promtool, found on PATH)
        [PROMTOOL or "", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _annotations(store: str, connector: str, severity: str, alert: str) -> dict[str, str]:
    for group in rules_document(load_slos())["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if rule.get("alert") == alert and labels.get("connector") == connector and labels["severity"] == severity:
                return {k: v.replace("{{ $labels.store }}", store) for k, v in rule["annotations"].items()}
    raise AssertionError(f"no {alert} for {connector}/{severity}")


@needs_promtool
def test_alerts_fire_when_the_budget_burns(tmp_path: Path) -> None:
    """promtool's rule unit tests: 10 % of store north's Shopify calls start failing (20× its 0.5 %
    budget) while store south's Shopify is healthy, so only north's alert fires; Zoho's 0.1 % fire
    nothing; GA4's calls are all slower than its 2.5 s threshold; a breaker stays open."""
    shutil.copy(RULES, tmp_path / "rules.yml")
    north = 'store="north",connector="shopify",operation="shop_info"'
    south = 'store="south",connector="shopify",operation="shop_info"'
    series = [
        # Healthy for 30 minutes, then 10 % of north's calls fail; south's never do, and it carries
        # more traffic, so a sum over stores would dilute north's burn below the ticket's rate.
        (f'storelink_requests_total{{{north},outcome="ok"}}', "0+100x30 3090+90x150"),
        (f'storelink_requests_total{{{north},outcome="unavailable"}}', "0x30 10+10x150"),
        (f'storelink_requests_total{{{south},outcome="ok"}}', "0+5000x180"),
        (
            'storelink_requests_total{store="north",connector="zoho",operation="list_messages",outcome="ok"}',
            "0+999x180",
        ),
        (
            'storelink_requests_total{store="north",connector="zoho",operation="list_messages",outcome="timeout"}',
            "0+1x180",
        ),
        (
            'storelink_request_duration_seconds_bucket{store="north",connector="ga4",operation="run_report",le="2.5"}',
            "0+0x180",
        ),
        (
            'storelink_request_duration_seconds_bucket{store="north",connector="ga4",operation="run_report",le="+Inf"}',
            "0+10x180",
        ),
        ('storelink_request_duration_seconds_count{store="north",connector="ga4",operation="run_report"}', "0+10x180"),
        ('storelink_breaker_state{store="south",connector="bing"}', "2x20"),
    ]
    page = "StorelinkAvailabilityBudgetBurn"
    latency = "StorelinkLatencyBudgetBurn"

    def expected(alert: str, connector: str, severity: str) -> dict[str, Any]:
        kind = "availability" if alert == page else "latency"
        return {
            "exp_labels": {
                "severity": severity,
                "store": "north",
                "connector": connector,
                "slo": f"{connector}-{kind}",
            },
            "exp_annotations": _annotations("north", connector, severity, alert),
        }

    harness = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [
                    {"eval_time": "25m", "alertname": page, "exp_alerts": []},  # before the failures
                    # Both windows of the page and of the ticket burn above their rates; Zoho's
                    # 0.1 % (a fifth of its budget) fires nothing.
                    {
                        "eval_time": "100m",
                        "alertname": page,
                        "exp_alerts": [expected(page, "shopify", "page"), expected(page, "shopify", "ticket")],
                    },
                    {
                        "eval_time": "70m",
                        "alertname": latency,
                        "exp_alerts": [expected(latency, "ga4", "page"), expected(latency, "ga4", "ticket")],
                    },
                    {
                        "eval_time": "10m",
                        "alertname": "StorelinkCircuitOpen",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "ticket", "store": "south", "connector": "bing"},
                                "exp_annotations": {
                                    k: v.replace("{{ $labels.connector }}", "bing").replace(
                                        "{{ $labels.store }}", "south"
                                    )
                                    for k, v in rules_document(load_slos())["groups"][1]["rules"][-1][
                                        "annotations"
                                    ].items()
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(harness, sort_keys=False))
    result = subprocess.run(  # noqa: S603  (promtool, found on PATH)
        [PROMTOOL or "", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_loads_and_reads_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "storelink-red" and dashboard["schemaVersion"] >= 36
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names == {"datasource", "store", "connector"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = _exprs(dashboard)
    assert len(exprs) >= 12
    joined = "\n".join(exprs)
    for metric in (
        "storelink_requests_total",
        "storelink_request_duration_seconds_bucket",
        "storelink_retries_total",
        "storelink_attempts_total",
        "storelink_throttles_total",
        "storelink_limiter_wait_seconds_total",
        "storelink_breaker_state",
        "storelink_ratelimit_available",
        "storelink_cache_total",
        "storelink_slo:error_budget",
    ):
        assert metric in joined, metric
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["gridPos"]["w"] > 0 and panel["targets"]


@needs_promtool
def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every panel query is valid PromQL: promtool parses each as a recording rule."""
    exprs = _exprs(dashboard_document(load_slos()))
    variables = {"$__rate_interval": "5m", "$connector": ".*", "$store": ".*"}
    for name, value in variables.items():
        exprs = [e.replace(name, value) for e in exprs]
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(  # noqa: S603  (promtool, found on PATH)
        [PROMTOOL or "", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
