"""One notion of "today" per store: one wall clock, read in the time zone whose days a call counts.

Every date a call depends on ("yesterday", "the last 28 days", sales by day) is a day somewhere: the
shop's ``ianaTimezone`` for Shopify, the property's time zone for GA4 (GA4 resolves ``yesterday``
itself), Pacific time for Search Console. None of them is UTC, and none is the host's zone. The
runtime hands every connector, and in mock mode the fake behind it, the same :class:`WallClock`;
a :class:`StoreCalendar` reads it in one zone. Nothing else in the product asks the system for the
date, so a test (or ``STORELINK_DEMO_TODAY``) pins "today" in one place.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storelink.clock import Clock

__all__ = ["PACIFIC", "UTC", "StoreCalendar", "Wall", "WallClock", "noon_on", "zone_named"]

Wall = Callable[[], float]
"""Epoch seconds, now."""

UTC = dt.UTC
PACIFIC = ZoneInfo("America/Los_Angeles")  # Search Console's days, and Google's quota days


class WallClock:
    """Epoch seconds that advance with a monotonic :class:`Clock`.

    Anchored once to ``time.time()`` (or ``anchor``); afterwards it moves only as ``clock`` moves, so it
    never jumps with NTP and, under ``looptime``, fast-forwards with the loop like every other wait.
    Token expiry, quota windows, "midnight Pacific" and every store's "today" are computed from it.
    """

    def __init__(self, clock: Clock, *, anchor: float | None = None) -> None:
        self._clock = clock
        self._anchor_wall = anchor
        self._anchor_mono: float | None = None

    def __call__(self) -> float:
        now = self._clock.now()
        if self._anchor_mono is None:
            # Anchored at the first reading, not at construction: a loop clock can only be read
            # inside the loop, and both ends of the anchor must be taken at the same moment.
            self._anchor_mono = now
            if self._anchor_wall is None:
                self._anchor_wall = time.time()
        assert self._anchor_wall is not None
        return self._anchor_wall + (now - self._anchor_mono)


def noon_on(day: dt.date, zone: dt.tzinfo) -> float:
    """Epoch seconds of noon on ``day`` in ``zone``: a pinned "today" that is still that day for hours,
    there and in every zone less than 12 hours from it (Pacific and UTC, for New York)."""
    return dt.datetime.combine(day, dt.time(12), zone).timestamp()


def zone_named(name: str | None, default: dt.tzinfo = UTC) -> dt.tzinfo:
    """The IANA zone ``name`` (as Shopify's ``ianaTimezone`` or GA4's ``timeZone`` give it); ``default``
    when it is missing or unknown to this machine's tz database."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


@dataclass(frozen=True, slots=True)
class StoreCalendar:
    """A wall clock read in one time zone: the days a store (or an upstream) counts in."""

    wall: Wall
    zone: dt.tzinfo

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.wall(), self.zone)

    def today(self) -> dt.date:
        return self.now().date()

    def last_days(self, days: int, *, lag: int = 1) -> tuple[dt.date, dt.date]:
        """The ``days`` whole days ending ``lag`` days before today (``lag=1``: ending yesterday)."""
        end = self.today() - dt.timedelta(days=lag)
        return end - dt.timedelta(days=max(1, days) - 1), end

    def day_of(self, instant: dt.datetime) -> dt.date:
        """The local day an aware instant falls on."""
        return instant.astimezone(self.zone).date()

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant of ``day`` here, in UTC (a day is 23 or 25 hours across a DST change)."""
        return dt.datetime.combine(day, dt.time(0), self.zone).astimezone(UTC)
