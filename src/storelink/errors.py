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
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
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
]

T = TypeVar("T")

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
