"""The embedded store: one SQLite database under ``STORELINK_DATA_DIR``.

It holds the HTTP cache now, and later the metric history, OAuth tokens, the write audit log and
the retrieval document store. Operations are small and local (microseconds), so they run on the
event loop thread; WAL mode lets readers and the writer proceed together and ``synchronous=NORMAL``
keeps commits from waiting on fsync (a crash can lose the last cached entries, never corrupt them).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["EmbeddedStore"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS http_cache (
        key            TEXT PRIMARY KEY,
        connector      TEXT NOT NULL,
        status         INTEGER NOT NULL,
        headers        TEXT NOT NULL,
        body           BLOB NOT NULL,
        stored_at      REAL NOT NULL,
        expires_at     REAL NOT NULL,
        etag           TEXT,
        last_modified  TEXT,
        store          TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX IF NOT EXISTS http_cache_expiry ON http_cache (expires_at)",
)
# Columns added after a table was first shipped: (table, column, definition), added when missing.
_ADDED_COLUMNS = (("http_cache", "store", "TEXT NOT NULL DEFAULT ''"),)  # a Shopify webhook expires one store's


class EmbeddedStore:
    """Owns the SQLite connection. ``path=None`` keeps everything in memory (tests, benchmarks)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists()
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if fresh:
                os.chmod(path, 0o600)  # it will hold tokens and business data
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        else:
            self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            self.db.execute(statement)
        for table, column, definition in _ADDED_COLUMNS:
            if column not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> EmbeddedStore:
        return cls(data_dir / "storelink.db")

    def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        self.db.close()
