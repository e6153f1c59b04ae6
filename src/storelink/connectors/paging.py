"""How an operation's answer is sized and continued, in the operation's own parameter names.

A params model declares ``paging: ClassVar[Paging]``; whoever cuts an answer to fit (the MCP
server) reads it to say exactly how to get the rest: ``start_row=1000`` for Search Console,
``offset`` for GA4, ``start`` for Zoho, the same ``cursor`` with a smaller ``limit`` for Shopify.
Without it, all a cut answer can say is "narrow the call".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Paging"]


@dataclass(frozen=True, slots=True)
class Paging:
    size: str | None = None  # the parameter that says how many items: limit, row_limit, sample
    position: str | None = None  # a numeric position to start from: start_row, offset, start
    next_position: str | None = None  # the result field that says where the next call starts
    cursor: str | None = None  # an opaque cursor parameter
    next_cursor: str | None = None  # the result field holding the cursor after the last item
    narrow: tuple[str, ...] = ()  # parameters that narrow the answer (dates, filters)
