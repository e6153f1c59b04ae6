"""``storelink live-check``: the live validation playbook, one connector at a time.

Before trusting live mode, check in order what usually goes wrong, and say what to fix:

1. **enabled**: the connector's flag is on;
2. **credentials**: every setting live mode needs is present (``missing_settings``);
3. **ids**: which shop/property/site/account the settings point at (secrets shown only as set);
4. **cheap call**: the connector's probe answers live (credentials accepted, id found);
5. **scopes**: each read operation with a declared example is called once, so a missing scope
   or permission shows as the operation it breaks (long-running bulk operations are skipped).

Nothing here writes. Each step after a failed one is skipped, since it could only fail the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from storelink.connectors.base import Connector
from storelink.connectors.credentials import CREDENTIAL_HOW_TO
from storelink.errors import ConnectorError, ErrorKind
from storelink.runtime import open_runtime
from storelink.settings import Settings, describe_settings
from storelink.stores import environment_store

__all__ = ["Check", "LiveCheckReport", "live_check", "remedy"]

Result = Literal["pass", "fail", "warn", "skip", "info"]

# Which environment variables belong to a connector, for the "ids" step.
_PREFIXES: dict[str, tuple[str, ...]] = {
    "shopify": ("SHOPIFY_",),
    "ga4": ("GA4_", "GOOGLE_"),
    "gsc": ("GSC_", "GOOGLE_"),
    "bing": ("BING_",),
    "zoho": ("ZOHO_",),
}
_SKIP_IN_SCOPES = ("bulk",)  # long-running operations are not a cheap check


@dataclass(frozen=True, slots=True)
class Check:
    step: str
    result: Result
    detail: str
    fix: str = ""


@dataclass
class LiveCheckReport:
    connector: str
    title: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(c.result == "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "title": self.title,
            "ready": self.ready,
            "checks": [{"step": c.step, "result": c.result, "detail": c.detail, "fix": c.fix} for c in self.checks],
        }


def remedy(cls: type[Connector], err: ConnectorError, ids: str) -> str:
    """What to do about a failed live call, by kind."""
    hint = cls.credential_hint or "the connector's credentials"
    kind = err.kind
    if kind is ErrorKind.UNAUTHORIZED:
        return f"The credentials were rejected: set {hint} to a valid, unexpired value. {_how(cls)}"
    if kind is ErrorKind.FORBIDDEN:
        return (
            "The credentials work but lack a scope or permission this needs: grant it to the app or account "
            f"(see docs/connectors/{cls.name}.md), then run this check again."
        )
    if kind is ErrorKind.NOT_FOUND:
        return f"The configured id does not exist or these credentials cannot see it: check {ids or 'the ids'}."
    if kind in (ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE, ErrorKind.CIRCUIT_OPEN):
        return (
            f"{cls.title} could not be reached or is failing: check the network, any proxy, and the upstream's "
            "status page, then retry."
        )
    if kind is ErrorKind.RATE_LIMITED:
        return f"{cls.title} is throttling this app: wait for the quota to refill, or reduce other use of it."
    if kind is ErrorKind.UPSTREAM_ERROR:
        return f"{cls.title} answered something unexpected: check the connector's API version setting."
    if kind is ErrorKind.INVALID_REQUEST:
        return "The request was refused as invalid; the configured ids may have the wrong form."
    return err.message


def _how(cls: type[Connector]) -> str:
    return CREDENTIAL_HOW_TO.get(cls.name, "")


def _ids(cls: type[Connector], settings: Settings) -> tuple[str, list[str]]:
    prefixes = _PREFIXES.get(cls.name, (f"{cls.name.upper()}_",))
    shown: list[str] = []
    names: list[str] = []
    for row in describe_settings(settings):
        if row.env.startswith(prefixes):
            value = ("set" if row.value else "unset") if row.secret else (row.value or "unset")
            shown.append(f"{row.env}={value}")
            names.append(row.env)
    return ", ".join(names), shown


async def _timed_call(connector: Connector, operation: str, params: dict[str, Any], timeout_s: float) -> float:
    started = time.perf_counter()
    await asyncio.wait_for(connector.call(operation, params), timeout_s)
    return (time.perf_counter() - started) * 1000.0


async def _check_one(
    cls: type[Connector],
    settings: Settings,
    transports: dict[str, httpx2.AsyncBaseTransport] | None,
    scopes: bool,
) -> LiveCheckReport:
    report = LiveCheckReport(cls.name, cls.title)
    add = report.checks.append
    knobs = settings.knobs(cls.name)
    if not knobs.enabled:
        add(Check("enabled", "fail", "turned off by its flag", f"Set STORELINK_{cls.name.upper()}_ENABLED=true."))
        return report
    add(Check("enabled", "pass", "on"))
    if settings.mcp_force_mocks:
        add(
            Check(
                "mode",
                "warn",
                "MCP_FORCE_MOCKS is true: the server uses the fakes whatever this check finds",
                "Unset MCP_FORCE_MOCKS (or set it to false) to serve live data.",
            )
        )
    missing = cls.missing_settings(environment_store(settings).connector(cls.name))
    if missing:
        add(
            Check(
                "credentials",
                "fail",
                "missing: " + ", ".join(missing),
                f"Set {', '.join(missing)} in the environment or .env. {_how(cls)}".strip(),
            )
        )
    else:
        add(Check("credentials", "pass", "every setting live mode needs is present"))
    id_names, shown = _ids(cls, settings)
    add(Check("ids", "info", "; ".join(shown) or "no connector-specific settings"))
    if missing:
        add(Check("cheap call", "skip", "needs the credentials above"))
        add(Check("scopes", "skip", "needs the credentials above"))
        return report

    live = settings.model_copy(update={"mcp_force_mocks": False})
    timeout_s = knobs.deadline + 5.0
    async with open_runtime(live, connectors=[cls], transports=transports) as runtime:
        connector = runtime.registry.get(cls.name)
        if connector.probe is None:
            add(Check("cheap call", "skip", "the connector declares no probe operation"))
        else:
            operation, params = connector.probe
            try:
                ms = await _timed_call(connector, operation, params, timeout_s)
            except ConnectorError as err:
                add(
                    Check(
                        "cheap call",
                        "fail",
                        f"{operation}: {err.kind.value}: {err.message}",
                        remedy(cls, err, id_names),
                    )
                )
                add(Check("scopes", "skip", "needs a working cheap call"))
                return report
            except TimeoutError:
                add(
                    Check(
                        "cheap call",
                        "fail",
                        f"{operation} did not answer within {timeout_s:g} s",
                        f"Check the network path to {cls.title}.",
                    )
                )
                return report
            add(Check("cheap call", "pass", f"{operation} answered live in {ms:.0f} ms"))
        if not scopes:
            add(Check("scopes", "skip", "not requested (--no-scopes)"))
            return report
        tried = 0
        for name, spec in sorted(connector.operations.items()):
            example = getattr(spec, "example", None)
            probe_name = connector.probe[0] if connector.probe else None
            if spec.write or example is None or name == probe_name or any(s in name for s in _SKIP_IN_SCOPES):
                continue
            tried += 1
            try:
                ms = await _timed_call(connector, name, dict(example), timeout_s)
            except ConnectorError as err:
                result: Result = "fail" if err.kind in (ErrorKind.FORBIDDEN, ErrorKind.UNAUTHORIZED) else "warn"
                add(Check(f"scope: {name}", result, f"{err.kind.value}: {err.message}", remedy(cls, err, id_names)))
            except TimeoutError:
                add(Check(f"scope: {name}", "warn", f"no answer within {timeout_s:g} s"))
            else:
                add(Check(f"scope: {name}", "pass", f"answered in {ms:.0f} ms"))
        if not tried:
            add(Check("scopes", "info", "no read operation declares an example to try"))
    return report


async def live_check(
    settings: Settings,
    connectors: Sequence[type[Connector]],
    *,
    scopes: bool = True,
    transports: dict[str, httpx2.AsyncBaseTransport] | None = None,
) -> list[LiveCheckReport]:
    """Check each connector in turn (one at a time: a failing one cannot hide another)."""
    return [await _check_one(cls, settings, transports, scopes) for cls in connectors]
