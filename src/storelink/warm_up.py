"""The site knowledge warm-up, as people see it: the overview page, ``/readyz``, ``storelink health``
and a search that arrives while it runs.

The runtime's warm-up (``Runtime.warming_up``) opens site knowledge at start and, in mock mode,
ingests the demo site (20-50 s the first time). :class:`WarmUp` follows it through the progress the
ingest reports (pages, then chunks embedded) and is kept in the embedded store
(:func:`load_warm_up`), so ``storelink health`` in another process sees how far a server got.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from storelink.store import EmbeddedStore

__all__ = ["STALE_S", "WarmUp", "WarmUpState", "load_warm_up", "save_warm_up"]

WarmUpState = Literal["off", "waiting", "warming", "ready", "failed"]
STALE_S = 120.0  # a "warming" record not updated for this long was left by a process that stopped

_TABLE = "CREATE TABLE IF NOT EXISTS storelink_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_KEY = "site_warm_up"


@dataclass
class WarmUp:
    state: WarmUpState = "waiting"
    step: str = ""  # the last progress report: "ingested 12 of 40 pages", "embedding chunks"
    done: float | None = None
    total: float | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    pages: int | None = None
    chunks: int | None = None
    error: str | None = None

    # -- changes, from the warm-up task ------------------------------------------------------------
    def begin(self, now: float | None = None) -> None:
        now = now or time.time()
        self.state, self.step, self.started_at, self.updated_at = "warming", "opening site knowledge", now, now
        self.done = self.total = self.finished_at = None
        self.error = None

    def progress(self, done: float, total: float | None, step: str, now: float | None = None) -> None:
        if total and " of " not in step:  # "embedding chunks" -> "embedding chunks: 128 of 1,162"
            step = f"{step}: {done:,.0f} of {total:,.0f}"
        self.done, self.total, self.step, self.updated_at = done, total, step, now or time.time()

    def finish(self, *, pages: int, chunks: int, now: float | None = None) -> None:
        now = now or time.time()
        self.state, self.pages, self.chunks, self.finished_at, self.updated_at = "ready", pages, chunks, now, now

    def fail(self, error: str, now: float | None = None) -> None:
        now = now or time.time()
        self.state, self.error, self.finished_at, self.updated_at = "failed", error, now, now

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def warming(self) -> bool:
        return self.state == "warming"

    def elapsed_s(self, now: float | None = None) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.finished_at or now or time.time()) - self.started_at)

    def stale(self, now: float | None = None) -> bool:
        """A "warming" record from a process that stopped updating it."""
        return self.warming and (now or time.time()) - (self.updated_at or 0.0) > STALE_S

    def percent(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return max(0.0, min(100.0, 100 * self.done / self.total))

    def summary(self, now: float | None = None) -> str:
        """One line for a page or a terminal."""
        took = self.elapsed_s(now)
        if self.state == "off":
            return "not warmed up at start (STORELINK_SITE_WARM_UP=false): the first search ingests"
        if self.state == "waiting":
            return "not started"
        if self.stale(now):
            return f"interrupted at {self.step} (the process warming it up stopped)"
        if self.state == "warming":
            return f"warming up: {self.step} ({took or 0:.0f} s so far)"
        if self.state == "failed":
            return f"warm-up failed after {took or 0:.0f} s: {self.error}; the first search tries again"
        if not self.pages:
            return "ready, with no pages ingested yet: `storelink rag ingest` fetches the site"
        return f"ready: {self.pages:,} pages, {self.chunks or 0:,} chunks (warmed up in {took or 0:.0f} s)"

    def still_warming(self, now: float | None = None) -> str:
        """What a search that arrives during the warm-up answers, at once."""
        took = self.elapsed_s(now) or 0.0
        return (
            f"Site knowledge is still warming up ({self.step}, {took:.0f} s so far); search again in a few "
            "seconds. The store's data tools answer meanwhile."
        )

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary(now), "percent": self.percent()}


def save_warm_up(store: EmbeddedStore, status: WarmUp) -> None:
    store.db.execute(_TABLE)
    store.db.execute(
        "INSERT OR REPLACE INTO storelink_state (key, value) VALUES (?, ?)", (_KEY, json.dumps(asdict(status)))
    )


def load_warm_up(store: EmbeddedStore) -> WarmUp | None:
    """The last warm-up recorded in this data directory (by this process or another), or None."""
    store.db.execute(_TABLE)
    row = store.db.execute("SELECT value FROM storelink_state WHERE key = ?", (_KEY,)).fetchone()
    if row is None:
        return None
    fields = WarmUp.__dataclass_fields__
    return WarmUp(**{k: v for k, v in json.loads(row[0]).items() if k in fields})
