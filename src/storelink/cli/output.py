"""How the command line prints: nothing a user must copy is ever cut.

Rich's tables shorten a cell that does not fit to ``SHOPIFY_SHO…``; an environment variable's
name, a SKU or a store id cut that way cannot be copied. Every table here folds instead (the
rest of the word continues on the next line), and output that goes to a pipe or a file is laid
out wide, since a pipe has no width to fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.table import Table as RichTable

from storelink.connectors.progress import progress_listener

__all__ = ["PIPED_WIDTH", "Table", "console", "period", "showing_progress", "tally"]

PIPED_WIDTH = 200  # columns a table may use when printed to a pipe or a file


def console(*, stderr: bool = False) -> Console:
    """A console the terminal's width; not a terminal (a pipe, a file), :data:`PIPED_WIDTH` wide,
    unless ``COLUMNS`` asks for another width than rich's 80."""
    found = Console(stderr=stderr)
    if found.is_terminal or found.width != 80:
        return found
    return Console(stderr=stderr, width=PIPED_WIDTH)


class Table(RichTable):
    """A rich table whose cells fold rather than end in an ellipsis."""

    def __init__(self, *headers: Column | str, **kwargs: Any) -> None:
        super().__init__(*headers, **kwargs)
        for column in self.columns:
            column.overflow = "fold"

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(header, *args, **kwargs)


def period(start: dt.date, end: dt.date) -> str:
    """``2026-11-02 – 2026-11-29``, never a tuple's repr."""
    return f"{start.isoformat()} – {end.isoformat()}"


def tally(counts: Mapping[str, int]) -> str:
    """``striking distance 273, low ctr 15``: a dict of counts as words."""
    return ", ".join(f"{name.replace('_', ' ')} {count:,}" for name, count in counts.items())


@contextmanager
def showing_progress(terminal: Console, label: str) -> Iterator[None]:
    """While the block runs, a spinner with the elapsed time and the operation's last progress
    report ("orders: page 2, 284 read", "bulk operation running: 1,200 objects") on ``terminal``,
    when it is one; erased at the end. Reports reach it through ``progress_listener``, which the
    block's ``asyncio.run`` inherits."""
    if not terminal.is_terminal:
        yield
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=terminal, transient=True
    ) as shown:
        task = shown.add_task(escape(label), total=None)

        async def report(done: float, total: float | None, message: str) -> None:
            shown.update(task, description=f"{escape(label)}: {escape(message)}")

        token = progress_listener.set(report)
        try:
            yield
        finally:
            progress_listener.reset(token)
