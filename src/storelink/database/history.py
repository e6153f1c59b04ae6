"""Metric history shared by replicas through PostgreSQL (issue 17).

Each replica samples its own registry (its *boot*) into its embedded store, as one process does.
With a database, every sample is also written there, and each replica copies the others' samples
into its embedded store, so its charts, SLO burn and increases count every replica's calls
(:class:`~storelink.observability.history.MetricsHistory` reads boot by boot). The pages keep
reading the embedded copy synchronously; the copy is at most one sampling interval behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storelink.database.postgres import Database
from storelink.observability.history import FULL_RETENTION_S, THIN_RETENTION_S, HistoryRow
from storelink.store import EmbeddedStore

__all__ = ["SharedHistory"]

_COLUMNS = (
    "ts, boot, boot_started, connector, requests, errors, retries, throttles, p50_ms, p95_ms, p99_ms, counters, store"
)
_PUSH = f"INSERT INTO metric_history ({_COLUMNS}) VALUES ({', '.join(['%s'] * 13)}) ON CONFLICT DO NOTHING"  # noqa: S608
_PULL = (
    f"SELECT seq, {_COLUMNS} FROM metric_history "  # noqa: S608  (fixed columns)
    "WHERE store = %s AND seq > %s AND boot <> %s ORDER BY seq LIMIT 5000"
)


class SharedHistory:
    """Pushes this replica's samples of one store and pulls the other replicas' into ``local``."""

    def __init__(self, db: Database, local: EmbeddedStore) -> None:
        self.db = db
        self.local = local
        self._pulled: dict[str, int] = {}  # store -> the last seq copied

    async def exchange(self, store_id: str, boot: str, rows: Sequence[HistoryRow]) -> int:
        """Write ``rows`` (this boot's new samples), copy what the others wrote since last time;
        returns how many rows were copied in."""
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            if rows:
                async with conn.cursor() as cursor:
                    await cursor.executemany(_PUSH, [tuple(row) for row in rows])
            copied = 0
            while True:
                cursor = await conn.execute(_PULL, (store_id, self._pulled.get(store_id, 0), boot))
                found: list[tuple[Any, ...]] = list(await cursor.fetchall())
                if not found:
                    return copied
                self.local.db.executemany(
                    f"INSERT OR IGNORE INTO metric_history ({_COLUMNS}) VALUES ({', '.join(['?'] * 13)})",  # noqa: S608
                    [row[1:] for row in found],
                )
                self._pulled[store_id] = int(found[-1][0])
                copied += len(found)

    async def thin(self, now: float) -> None:
        """The embedded history's retention, for every replica's rows: each sample for three days,
        then the first of each hour (per boot) for 31 days."""
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM metric_history WHERE ts < %s", (now - THIN_RETENTION_S,))
            await conn.execute(
                "DELETE FROM metric_history WHERE ts < %s AND seq NOT IN (SELECT MIN(seq) FROM metric_history "
                "WHERE ts < %s GROUP BY store, connector, boot, floor(ts / 3600))",
                (now - FULL_RETENTION_S, now - FULL_RETENTION_S),
            )
