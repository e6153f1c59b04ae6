"""Regenerate the generated parts of docs/ (``make docs``); tests check they are current.

Each generated part sits between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from storelink.settings import describe_settings

__all__ = ["GENERATORS", "configuration_table", "main", "render", "tools_table"]


def configuration_table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for row in describe_settings(None):
        default = f"`{row.default}`" if row.default else ("(secret)" if row.secret else "(unset)")
        lines.append(f"| `{row.env}` | {default} | {row.description.replace('|', '/')} |")
    return "\n".join(lines)


def tools_table() -> str:
    """Every MCP tool the registry yields (write tools appear only when allowed)."""
    from storelink.connectors.registry import builtin_connectors

    meta = {
        "storelink_capabilities": "What is configured: each source's mode, what it lacks, which tools are on.",
        "storelink_output_schema": "The JSON Schema of a tool's answer (tools/list leaves output schemas out).",
        "connector_health": "Probe one source (or all) and report ok / degraded / down / disabled.",
        "connector_metrics": "Error rate, latency percentiles, retries, throttles, breaker, headroom.",
    }
    across = {
        "stores_sales_and_traffic": "Sales (Shopify) and traffic (GA4) of several stores side by side.",
        "stores_low_stock": "Stock-out risks of several stores, ranked together by revenue at risk.",
        "stores_health": "Every source of several stores: ok / degraded / down / disabled.",
    }
    from storelink.insights import tools as insights
    from storelink.rag import tools as rag

    for name, function in (
        ("search", rag.search),
        ("fetch", rag.fetch),
        ("site_answer", rag.site_answer),
        ("insights_seo_opportunities", insights.seo_opportunities),
        ("insights_inventory_signals", insights.inventory_signals),
        ("insights_product_recommendations", insights.product_recommendations),
    ):
        meta[name] = " ".join((function.__doc__ or "").split("\n\n")[0].split())
    meta.update(across)
    lines = ["| tool | kind | what it does |", "|---|---|---|"]
    lines += [f"| `{name}` | read | {text.replace('|', '/')} |" for name, text in meta.items()]
    for cls in builtin_connectors():
        for spec in cls.operations.values():
            kind = "write (off unless allowed)" if spec.write else "read"
            lines.append(f"| `{cls.name}_{spec.name}` | {kind} | {spec.summary.replace('|', '/')} |")
    return "\n".join(lines)


GENERATORS: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("docs/configuration.md", configuration_table),
    "tools": ("docs/mcp.md", tools_table),
}


def render(text: str, name: str, body: str) -> str:
    pattern = re.compile(
        rf"(<!-- BEGIN GENERATED: {name} -->\n)(?:.*?\n)?(<!-- END GENERATED: {name} -->)",
        re.DOTALL,
    )
    if not pattern.search(text):
        raise ValueError(f"no generated section {name!r}")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main(root: Path | None = None) -> int:
    root = root or Path.cwd()
    for name, (path, generate) in GENERATORS.items():
        target = root / path
        target.write_text(render(target.read_text(), name, generate()))
        print(f"updated {path} ({name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
