"""Screenshots of each page for docs/screenshots/:

    .venv/bin/python -m tests.e2e.make_screenshots      (needs Chromium and playwright)

Shopify runs in mock mode with an hour of real calls replayed into the history (an incident at
minute 38–44), then a minute of live calls; the failing overview uses generic connectors that
fail in each way a page must survive; the login page is the password mode's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from storelink.errors import ConnectorError
from storelink.fakes.faults import Fault, FaultPlan
from storelink.web.state import errors_for
from tests.e2e.scenes import PASSWORD, all_failing, builder, registry_with_history, settings_for
from tests.e2e.support import browser, serve

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1360, "height": 900}


def take_screenshots(out: Path, work: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    settings, factory = registry_with_history(work / "shop")
    with serve(builder(settings, history_interval_s=2.0, health_interval_s=30.0), factory) as served, browser() as b:
        assert served.runtime is not None
        errors = errors_for(served.runtime)
        for connector in served.runtime.registry:
            fake = served.runtime.fakes.get(connector.name)
            if fake is not None:
                fake.faults = FaultPlan(
                    rates={Fault.RATE_LIMITED: 0.1, Fault.UNAVAILABLE: 0.05}, retry_after_s=0.1, seed=3
                )
            calls = [connector.probe] if connector.probe else []
            calls += [
                (n, dict(spec.example))
                for n, spec in sorted(connector.operations.items())
                if not spec.write and spec.example is not None and not n.startswith(("bulk", "inventory"))
            ][:3]
            for i in range(6):
                name, params = calls[i % len(calls)]

                async def one(c: Any = connector, name: str = name, params: dict[str, Any] = params) -> None:
                    try:
                        await c.call(name, params)
                    except ConnectorError as err:
                        errors.record(err)  # what the connector base's hook will do

                served.call(one)
            if fake is not None:
                fake.faults = FaultPlan()
        # Two failures worth reading on Shopify's page: an order that does not exist, and an
        # outage that outlasts the retries.
        shop = served.runtime.registry.get("shopify")
        shop_fake = served.runtime.fakes["shopify"]

        async def failures() -> None:
            for name, params, plan in (
                ("get_order", {"id": "#99999"}, FaultPlan()),
                ("list_orders", {"limit": 5}, FaultPlan.scripted(*["503"] * 4)),
            ):
                shop_fake.faults = plan
                try:
                    await shop.call(name, params)
                except ConnectorError as err:
                    errors.record(err)
            shop_fake.faults = FaultPlan()

        served.call(failures)
        page = b.new_page(viewport=VIEWPORT)
        shots = {
            "overview.png": ("/", False),
            "connector.png": ("/app/connectors/shopify", True),
            "metrics.png": ("/app/metrics", True),
            "settings.png": ("/app/settings", False),
            "slo.png": ("/app/slo", False),
        }
        for filename, (path, full) in shots.items():
            page.goto(served.url + path)
            page.wait_for_timeout(2500 if path == "/" else 300)  # let the stream deliver once
            page.screenshot(path=str(out / filename), full_page=full)
            written.append(out / filename)

    settings, factory = all_failing(work / "failing")
    with serve(builder(settings, health_interval_s=60.0), factory) as served, browser() as b:
        page = b.new_page(viewport=VIEWPORT)
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelectorAll('article.card[data-health=\"down\"]').length === 5")
        page.screenshot(path=str(out / "overview-failing.png"), full_page=True)
        written.append(out / "overview-failing.png")

    settings = settings_for(work / "login", dashboard_password=PASSWORD)
    _, factory = all_failing(work / "login")
    with serve(builder(settings), factory) as served, browser() as b:
        page = b.new_page(viewport={"width": 900, "height": 520})
        page.goto(served.url + "/app/slo")
        page.screenshot(path=str(out / "login.png"))
        written.append(out / "login.png")
    return written


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        for path in take_screenshots(ROOT / "docs" / "screenshots", Path(work)):
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
