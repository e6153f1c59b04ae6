"""Optional error tracking with Sentry, with secrets scrubbed before anything leaves the process.

Off unless ``SENTRY_DSN`` is set (and ``sentry-sdk`` installed). When on:

* unhandled exceptions and ERROR log records go to Sentry as the SDK does by default;
* connector errors that need an operator (bad credentials, broken contracts, outages) are sent
  as warnings grouped by connector, operation and kind, at most one per group per minute so a
  failing upstream at 50 calls a second does not become 50 events a second;
* every event and breadcrumb passes :func:`scrub_event`: each configured secret value, bearer
  token and credential-like query parameter is masked in every string, anywhere in the event;
  cookies, auth headers and request bodies are dropped; PII collection stays at its default (off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from storelink.observability.errors_log import ErrorEntry, ErrorLog
from storelink.observability.logs import redact
from storelink.settings import Settings

__all__ = ["FORWARDED_KINDS", "forward_errors", "init_sentry", "scrub_event"]

log = logging.getLogger("storelink.sentry")

FORWARDED_KINDS = frozenset({"unauthorized", "forbidden", "upstream_error", "unavailable", "timeout"})
_DROP_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-shopify-access-token", "x-api-key"}
_EVERY_S = 60.0


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


def scrub_event(event: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """A copy of ``event`` that holds no secret value, credential header, cookie or body."""
    request = event.get("request")
    if isinstance(request, dict):
        request = dict(request)
        request.pop("cookies", None)
        request.pop("data", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in _DROP_HEADERS}
        event = {**event, "request": request}
    scrubbed: dict[str, Any] = _scrub(event, sorted(set(secrets), key=len, reverse=True))
    return scrubbed


def init_sentry(settings: Settings, *, transport: Any = None) -> bool:
    """Start the Sentry SDK when ``SENTRY_DSN`` is set; return whether it is on."""
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False
    try:
        import sentry_sdk
    except ImportError:
        log.warning("SENTRY_DSN is set but sentry-sdk is not installed; `pip install sentry-sdk` to send errors")
        return False
    secrets = settings.secret_values()

    def before_send(event: Any, hint: Any) -> Any:
        return scrub_event(event, secrets)

    def before_breadcrumb(crumb: Any, hint: Any) -> Any:
        return scrub_event(crumb, secrets)

    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn.get_secret_value(),
        "before_send": before_send,
        "before_breadcrumb": before_breadcrumb,
        "traces_sample_rate": 0.0,
        "max_request_body_size": "never",
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True


def forward_errors(errors: ErrorLog, *, clock: Callable[[], float] = time.monotonic) -> None:
    """Send operator-worthy connector errors to Sentry (call after :func:`init_sentry`)."""
    import sentry_sdk

    last_sent: dict[tuple[str, str, str], float] = {}

    def send(entry: ErrorEntry) -> None:
        if entry.kind not in FORWARDED_KINDS:
            return
        key = (entry.connector, entry.operation, entry.kind)
        now = clock()
        if now - last_sent.get(key, -_EVERY_S) < _EVERY_S:
            return
        last_sent[key] = now
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["storelink-connector-error", *key]
            scope.set_tag("connector", entry.connector)
            scope.set_tag("operation", entry.operation)
            scope.set_tag("kind", entry.kind)
            if entry.request_id:
                scope.set_tag("upstream_request_id", entry.request_id)
            sentry_sdk.capture_message(f"{entry.connector}.{entry.operation}: {entry.message}", level="warning")

    errors.add_listener(send)
