"""The one error tree and the one result envelope.

Every failure a caller can see is a :class:`ConnectorError`; its ``kind`` says whose fault it
is and what the pipeline did about it, and its message says what to do next::

    Exception
     └── StorelinkError                 programmer-facing base (never raised bare)
          ├── ConfigurationError        settings that cannot work (raised at start, before any call)
          └── ConnectorError            one failed call; fields == the error envelope
               kind ∈ ErrorKind         not_configured · disabled · unauthorized · forbidden
                                        not_found · invalid_request · rate_limited · timeout
                                        unavailable · circuit_open · upstream_error

Success is an :class:`Envelope` of ``data`` and :class:`Meta`. Both envelopes serialise to the
same JSON shape that the CLI prints, the MCP tools return and the pages render.

Messages stay short whatever the input: :func:`clip` cuts what a message repeats, and
:func:`describe_validation_error` turns a pydantic error into one line per problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_ECHO",
    "MAX_MESSAGE",
    "ConfigurationError",
    "ConnectorError",
    "Envelope",
    "ErrorEnvelope",
    "ErrorKind",
    "Headroom",
    "Meta",
    "Mode",
    "Source",
    "StorelinkError",
    "clip",
    "describe_validation_error",
]

T = TypeVar("T")

# Error messages stay short whatever the caller sent: an echoed value is cut to MAX_ECHO characters
# and a whole message to MAX_MESSAGE, so a 0.5 MB argument cannot come back as a 20 MB error.
MAX_ECHO = 80
MAX_MESSAGE = 1000
_MAX_PROBLEMS = 5

Mode = Literal["live", "mock", "disabled"]
Source = Literal["network", "cache-fresh", "cache-revalidated"]


class ErrorKind(StrEnum):
    """What went wrong, phrased as whose fault it is (DESIGN.md §2)."""

    NOT_CONFIGURED = "not_configured"
    DISABLED = "disabled"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    INVALID_REQUEST = "invalid_request"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    CIRCUIT_OPEN = "circuit_open"
    UPSTREAM_ERROR = "upstream_error"

    @property
    def is_upstream_fault(self) -> bool:
        """Faults that say the upstream is unhealthy; only these move the circuit breaker."""
        return self in _UPSTREAM_FAULTS

    @property
    def is_transient(self) -> bool:
        """Kinds worth another attempt for a read (writes need an idempotency key as well)."""
        return self in _TRANSIENT


_UPSTREAM_FAULTS = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE, ErrorKind.UPSTREAM_ERROR})
_TRANSIENT = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE})


class StorelinkError(Exception):
    """Base of every exception storelink raises on purpose."""


class ConfigurationError(StorelinkError):
    """Settings that cannot work together; raised at start-up with the variable to fix."""


class ConnectorError(StorelinkError):
    """One failed call. Its attributes are the error envelope; ``str()`` leads with the request id.

    ``message`` is written for a person or an agent: what happened, then what to do. It never
    carries a secret, a token or a URL query string.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        connector: str = "",
        operation: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        request_id: str | None = None,
        upstream_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.connector = connector
        self.operation = operation
        self.status = status
        self.retryable = kind.is_transient if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        self.upstream_code = upstream_code

    def with_context(self, *, connector: str, operation: str) -> ConnectorError:
        """Fill in where the error happened, keeping what is already known."""
        self.connector = self.connector or connector
        self.operation = self.operation or operation
        return self

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(
            error=ErrorBody(
                connector=self.connector,
                operation=self.operation,
                kind=self.kind,
                message=self.message,
                status=self.status,
                retryable=self.retryable,
                retry_after_s=self.retry_after_s,
                request_id=self.request_id,
                upstream_code=self.upstream_code,
            )
        )

    def __str__(self) -> str:
        prefix = f"Request {self.request_id}: " if self.request_id else ""
        where = f"{self.connector}.{self.operation}" if self.operation else self.connector
        return f"{prefix}[{self.kind.value}] {where}: {self.message}" if where else f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"ConnectorError(kind={self.kind.value!r}, connector={self.connector!r}, "
            f"operation={self.operation!r}, status={self.status!r}, request_id={self.request_id!r})"
        )


class Headroom(BaseModel):
    """What is left of the upstream's quota, as the upstream last reported it."""

    model_config = ConfigDict(frozen=True)

    available: float
    maximum: float
    unit: str = "requests"
    restore_per_s: float | None = None


class Meta(BaseModel):
    """Facts about how a result was obtained; present on every success."""

    model_config = ConfigDict(frozen=True)

    connector: str
    operation: str
    mode: Mode
    source: Source = "network"
    attempts: int = 1
    latency_ms: float = 0.0
    request_id: str | None = None
    headroom: Headroom | None = None


class Envelope(BaseModel, Generic[T]):
    """A successful result: the typed ``data`` and how it was obtained."""

    data: T
    meta: Meta


class ErrorBody(BaseModel):
    connector: str
    operation: str
    kind: ErrorKind
    message: str
    status: int | None = None
    retryable: bool = False
    retry_after_s: float | None = None
    request_id: str | None = None
    upstream_code: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    meta: dict[str, Any] = Field(default_factory=dict)


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expected_format(error_type: str) -> str:
    """The shape a date or time must have, for pydantic's errors that do not say it."""
    if error_type.startswith("date_"):
        return " (expected YYYY-MM-DD, e.g. 2026-11-02)"
    if error_type.startswith("datetime_"):
        return " (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with an offset, e.g. 2026-11-02T09:30:00Z)"
    return ""


def describe_validation_error(exc: ValidationError, *, allowed: Iterable[str] = ()) -> str:
    """One short clause per problem, naming the parameter, what is wrong and what is allowed.

    The rejected values are never echoed (they are the caller's data and may be huge); a message
    written by a validator is cut, and so is the whole text. ``allowed``: the parameter names, listed
    when an unknown one was given."""
    names = ", ".join(allowed)
    parts: list[str] = []
    unknown: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = clip(".".join(str(p) for p in error["loc"]) or "parameters")
        if error["type"] == "extra_forbidden":
            unknown.append(where)
        else:
            parts.append(f"{where}: {clip(error['msg'], 2 * MAX_ECHO)}{_expected_format(error['type'])}")
    if unknown:
        listed = ", ".join(repr(u) for u in unknown[:_MAX_PROBLEMS])
        close = [m for u in unknown for m in difflib.get_close_matches(u, list(allowed), n=1, cutoff=0.6)]
        guess = f" (did you mean {', '.join(repr(c) for c in dict.fromkeys(close))}?)" if close else ""
        parts.insert(0, f"unknown parameter(s) {listed}{guess}" + (f"; valid: {names}" if names else ""))
    if len(parts) > _MAX_PROBLEMS:
        parts[_MAX_PROBLEMS:] = [f"and {len(parts) - _MAX_PROBLEMS} more problem(s)"]
    return clip("; ".join(parts), MAX_MESSAGE)
