"""Recent errors, per connector, for the pages: a bounded ring of redacted entries.

Metrics say *how often* a connector fails; operators also need to read *what* failed. Each
:class:`~storelink.errors.ConnectorError` that reaches a caller is recorded here once (the
connector base calls :meth:`ErrorLog.record`), keeping only what is safe to show: kind,
operation, status, the message (already secret-free by contract, and redacted again here in
case a connector slipped), the upstream's request id and the wall-clock time.

Memory is bounded: ``per_connector`` entries per connector, oldest dropped first.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from storelink.errors import ConnectorError
from storelink.observability.logs import redact
from storelink.observability.metrics import CALLER_OUTCOMES

__all__ = ["DEFAULT_PER_CONNECTOR", "ErrorEntry", "ErrorListener", "ErrorLog"]

DEFAULT_PER_CONNECTOR = 50


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    connector: str
    operation: str
    kind: str
    message: str
    status: int | None
    request_id: str | None
    retryable: bool
    at: float  # wall-clock seconds since the epoch

    @property
    def caller(self) -> bool:
        """The caller's own mistake (invalid input, an id that does not exist), not the upstream's."""
        return self.kind in CALLER_OUTCOMES

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "caller": self.caller}


ErrorListener = Callable[[ErrorEntry], None]


class ErrorLog:
    """Thread-safe: the pages read it while the event loop (or a soak thread) writes."""

    def __init__(
        self,
        *,
        per_connector: int = DEFAULT_PER_CONNECTOR,
        secrets: list[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_connector = per_connector
        self._secrets = sorted(set(secrets or []), key=len, reverse=True)
        self._clock = clock
        self._rings: dict[str, deque[ErrorEntry]] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listeners: list[ErrorListener] = []

    def add_listener(self, listener: ErrorListener) -> None:
        """Called with every recorded entry (Sentry forwarding uses this)."""
        self._listeners.append(listener)

    def record(self, err: ConnectorError, *, at: float | None = None) -> ErrorEntry:
        entry = ErrorEntry(
            connector=err.connector or "unknown",
            operation=err.operation,
            kind=err.kind.value,
            message=redact(err.message, self._secrets),
            status=err.status,
            request_id=err.request_id,
            retryable=err.retryable,
            at=self._clock() if at is None else at,
        )
        with self._lock:
            ring = self._rings.get(entry.connector)
            if ring is None:
                ring = self._rings[entry.connector] = deque(maxlen=self.per_connector)
            ring.append(entry)
            self._totals[entry.connector] = self._totals.get(entry.connector, 0) + 1
        for listener in self._listeners:
            listener(entry)
        return entry

    def recent(self, connector: str, limit: int | None = None) -> list[ErrorEntry]:
        """Newest first."""
        with self._lock:
            entries = list(self._rings.get(connector, ()))
        entries.reverse()
        return entries[:limit] if limit is not None else entries

    def last(self, connector: str, *, upstream: bool = False) -> ErrorEntry | None:
        """The newest entry; with ``upstream``, the newest that is not the caller's own mistake."""
        with self._lock:
            ring = list(self._rings.get(connector, ()))
        for entry in reversed(ring):
            if not upstream or not entry.caller:
                return entry
        return None

    def total(self, connector: str) -> int:
        """Errors recorded since start (the ring may hold fewer)."""
        with self._lock:
            return self._totals.get(connector, 0)

    def connectors(self) -> list[str]:
        with self._lock:
            return sorted(self._rings)
