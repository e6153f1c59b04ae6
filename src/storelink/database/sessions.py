"""Dashboard session revocations in PostgreSQL, so a logout on one replica holds on every replica.

Sessions themselves are signed cookies (``STORELINK_SESSION_SECRET``, the same on every replica);
only their revocations are state. A row lives until the cookie it revokes would have expired.
"""

from __future__ import annotations

from storelink.database.postgres import Database

__all__ = ["SessionRevocations"]


class SessionRevocations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def revoke(self, sid: str, *, until: float, now: float) -> None:
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            await conn.execute(
                "INSERT INTO session_revocations (sid, until) VALUES (%s, %s) ON CONFLICT (sid) DO NOTHING",
                (sid, until),
            )
            await conn.execute("DELETE FROM session_revocations WHERE until < %s", (now,))  # keep it small

    async def is_revoked(self, sid: str, *, now: float) -> bool:
        self.db.fail_fast()  # every page view asks: while the database is down, do not wait for it
        await self.db.ensure_migrated()
        async with self.db.connection() as conn:
            cursor = await conn.execute("SELECT 1 FROM session_revocations WHERE sid = %s AND until >= %s", (sid, now))
            return await cursor.fetchone() is not None
