"""A deadline set once at the top of a call and consulted by every layer below it.

Two scopes use it. Each request through the pipeline gets one (``STORELINK_<C>_DEADLINE``, or the
request's own ``deadline_s``), covering its bulkhead wait, limiter waits, attempts and backoffs.
An operation (:meth:`Connector.call`) sets one for all its requests with
:func:`operation_deadline`: a paginated call's pages share it instead of each getting a fresh
30 s, so fifty pages cannot take fifty deadlines. A request's deadline is the earlier of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from storelink.clock import Clock

__all__ = ["Deadline", "current_deadline", "operation_deadline"]


@dataclass(slots=True)
class Deadline:
    """An absolute point on ``clock`` after which no work for the call may start (SRE book)."""

    clock: Clock
    at: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.now() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.now())

    def expired(self) -> bool:
        return self.clock.now() >= self.at

    def allows(self, wait_s: float) -> bool:
        """Whether waiting ``wait_s`` still leaves time to do something afterwards."""
        return wait_s < self.remaining()

    def earliest(self, other: Deadline | None) -> Deadline:
        """This deadline or ``other``, whichever comes first (both on the same clock)."""
        return other if other is not None and other.at < self.at else self


_operation: ContextVar[Deadline | None] = ContextVar("storelink_operation_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the operation running in this task, if one was set."""
    return _operation.get()


@contextmanager
def operation_deadline(deadline: Deadline) -> Iterator[Deadline]:
    """Bound every request made inside the block by ``deadline`` (or by an enclosing operation's
    deadline, when that comes first: a nested operation never extends its caller's time)."""
    effective = deadline.earliest(_operation.get())
    token = _operation.set(effective)
    try:
        yield effective
    finally:
        _operation.reset(token)
