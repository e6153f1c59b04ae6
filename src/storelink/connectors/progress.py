"""Progress of long operations (paging, bulk exports), reported to whoever is listening.

The MCP server turns reports into progress notifications; the CLI into a progress bar. A
connector just calls :func:`report_progress`; with no listener it costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

__all__ = ["ProgressListener", "progress_listener", "report_progress"]

ProgressListener = Callable[[float, float | None, str], Awaitable[None]]

progress_listener: ContextVar[ProgressListener | None] = ContextVar("storelink_progress", default=None)


async def report_progress(done: float, total: float | None, message: str) -> None:
    listener = progress_listener.get()
    if listener is not None:
        await listener(done, total, message)
