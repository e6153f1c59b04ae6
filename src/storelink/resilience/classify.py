"""Classification: turn one attempt's response or exception into a :class:`Verdict`.

The verdict is the only thing the retry loop, the breaker, the limiter and the error message
read. Each connector supplies a classifier (usually :class:`HttpClassifier` with a
``classify_body`` override), because upstreams signal throttling inside 200 responses (Shopify's
``THROTTLED``) and in JSON error bodies (Google's ``RESOURCE_EXHAUSTED``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx2

from storelink.errors import ConnectorError, ErrorKind

__all__ = [
    "Classifier",
    "HttpClassifier",
    "RateHint",
    "Verdict",
    "parse_retry_after",
]


@dataclass(frozen=True, slots=True)
class RateHint:
    """The upstream's own account of its quota, as reported on a response."""

    available: float
    maximum: float
    restore_per_s: float
    unit: str = "points"
    actual_cost: float | None = None


@dataclass(slots=True)
class Verdict:
    """Outcome of one attempt. ``kind is None`` means success. Treat as immutable (it is not
    frozen only because a frozen dataclass costs several µs more to build, on the hot path)."""

    kind: ErrorKind | None = None
    message: str = ""
    status: int | None = None
    retry_after_s: float | None = None
    upstream_code: str | None = None
    request_id: str | None = None
    hint: RateHint | None = None
    # False when the upstream certainly did not act on the request (429, connection refused):
    # such a write may be retried even without an idempotency key.
    maybe_applied: bool = True
    retryable: bool | None = None
    body: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.kind is None

    @property
    def should_retry(self) -> bool:
        if self.kind is None:
            return False
        return self.kind.is_transient if self.retryable is None else self.retryable

    def error(self) -> ConnectorError:
        """This failed attempt as the error a caller sees."""
        assert self.kind is not None, "a successful attempt is not an error"
        return ConnectorError(
            self.kind,
            self.message,
            status=self.status,
            retryable=self.should_retry,
            retry_after_s=self.retry_after_s,
            request_id=self.request_id,
            upstream_code=self.upstream_code,
        )


class Classifier(Protocol):
    def classify_response(self, response: httpx2.Response) -> Verdict: ...

    def classify_exception(self, exc: Exception) -> Verdict: ...


def parse_retry_after(value: str | None, *, now_wall: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now_wall)


_REQUEST_ID_HEADERS = frozenset({b"x-request-id", b"request-id", b"x-goog-request-id", b"x-ms-request-id"})


class HttpClassifier:
    """Status-code classification with messages that say what to do.

    Subclasses override :meth:`classify_body` to read in-body signals of a 2xx or an error
    response, and :meth:`remedy` to name the setting to fix.
    """

    def __init__(
        self,
        *,
        title: str,
        connector: str,
        credential_hint: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.title = title
        self.connector = connector
        self.credential_hint = credential_hint
        self.wall_clock = wall_clock

    # -- responses ---------------------------------------------------------------------------
    def classify_response(self, response: httpx2.Response) -> Verdict:
        """Classify a fully read response. A JSON body is parsed once, here, and handed on in
        ``verdict.body`` so the connector does not parse it again."""
        content_type, request_id = _scan_headers(response)
        body = _parse_json(response.content) if _is_json(content_type) else _NOT_JSON
        verdict = self.classify_status(response, body)
        parsed = body is not _NOT_JSON and body is not _INVALID
        if parsed:
            verdict = self.classify_body(response, body, verdict)
            verdict.body = body
        verdict.request_id = verdict.request_id or request_id
        if verdict.status is None:
            verdict.status = response.status_code
        return verdict

    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        status = response.status_code
        if status < 300 or status == 304:
            if body is _INVALID:
                return Verdict(
                    ErrorKind.UPSTREAM_ERROR,
                    f"{self.title} answered {status} with a body that is not valid JSON; "
                    "this is an upstream fault, try again later.",
                    status=status,
                )
            return Verdict(status=status)
        retry_after = parse_retry_after(response.headers.get("retry-after"), now_wall=self.wall_clock())
        t = self.title
        if status == 401:
            return Verdict(
                ErrorKind.UNAUTHORIZED,
                f"{t} rejected the credentials (401). Set {self.credential_hint} to a valid value; "
                f"see `storelink live-check {self.connector}`.",
                status=status,
            )
        if status == 403:
            return Verdict(
                ErrorKind.FORBIDDEN,
                f"{t} refused access (403): the credentials lack a scope or permission this "
                f"operation needs. Grant it, then retry; see docs/connectors/{self.connector}.md.",
                status=status,
            )
        if status == 404:
            return Verdict(
                ErrorKind.NOT_FOUND,
                f"{t} has no such object (404). Check the id and the configured site/property/shop.",
                status=status,
            )
        if status == 408:
            return Verdict(ErrorKind.TIMEOUT, f"{t} timed out the request (408).", status=status)
        if status == 429:
            wait = f" Retry after {retry_after:.1f} s." if retry_after is not None else ""
            return Verdict(
                ErrorKind.RATE_LIMITED,
                f"{t} is rate limiting this app (429).{wait}",
                status=status,
                retry_after_s=retry_after,
                maybe_applied=False,
            )
        if status >= 500:
            return Verdict(
                ErrorKind.UNAVAILABLE,
                f"{t} failed with {status}; it is an upstream fault, retry later.",
                status=status,
                retry_after_s=retry_after,
            )
        return Verdict(
            ErrorKind.INVALID_REQUEST,
            f"{t} rejected the request ({status}): {self.error_detail(body)}",
            status=status,
        )

    def classify_body(self, response: httpx2.Response, body: Any, verdict: Verdict) -> Verdict:
        """Read in-body signals of a parsed JSON body; the default trusts the status code."""
        return verdict

    def error_detail(self, body: Any) -> str:
        """A short description of a parsed error body (upstreams do not echo credentials)."""
        if isinstance(body, dict):
            for key in ("message", "error_description", "error", "detail"):
                value = body.get(key)
                if isinstance(value, str):
                    return value[:300]
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    return str(value["message"])[:300]
        return "no details given"

    # -- exceptions --------------------------------------------------------------------------
    def classify_exception(self, exc: Exception) -> Verdict:
        t = self.title
        if isinstance(exc, httpx2.ConnectTimeout):
            return Verdict(
                ErrorKind.TIMEOUT,
                f"Could not connect to {t} in time; check the network, or raise "
                f"STORELINK_{self.connector.upper()}_CONNECT_TIMEOUT.",
                maybe_applied=False,
            )
        if isinstance(exc, httpx2.TimeoutException | TimeoutError):
            return Verdict(
                ErrorKind.TIMEOUT,
                f"{t} did not answer in time; retry later, or raise STORELINK_{self.connector.upper()}_TIMEOUT.",
            )
        if isinstance(exc, httpx2.ConnectError):
            return Verdict(
                ErrorKind.UNAVAILABLE,
                f"Could not connect to {t}; it may be down or unreachable from here.",
                maybe_applied=False,
            )
        if isinstance(exc, httpx2.TransportError):
            return Verdict(
                ErrorKind.UNAVAILABLE,
                f"The connection to {t} broke mid-request ({type(exc).__name__}); retry later.",
            )
        if isinstance(exc, httpx2.DecodingError):
            return Verdict(ErrorKind.UPSTREAM_ERROR, f"{t} sent a body that could not be decoded.")
        raise exc


_NOT_JSON: Any = object()
_INVALID: Any = object()


def _scan_headers(response: httpx2.Response) -> tuple[bytes, str | None]:
    """Content type and request id in one pass over the raw headers (on the hot path)."""
    content_type = b""
    request_id: str | None = None
    for name, value in response.headers.raw:
        lowered = name.lower()
        if lowered == b"content-type":
            content_type = value
        elif lowered in _REQUEST_ID_HEADERS and request_id is None:
            request_id = value[:128].decode("latin-1")
    return content_type, request_id


def _is_json(content_type: bytes) -> bool:
    """``application/json`` and ``+json`` types; not JSON Lines (``application/jsonl``, ndjson)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media.endswith((b"/json", b"+json"))


def _parse_json(content: bytes) -> Any:
    if not content:
        return _NOT_JSON
    try:
        return json.loads(content)
    except ValueError:
        return _INVALID
