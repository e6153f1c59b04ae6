"""Which demo store is served: one cached per ``(today, seed)``, the one for the shop's current day
(mock mode), and mock mode's wall clock, pinned to a day or real."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from time import time as time_now
from zoneinfo import ZoneInfo

from storelink.clock import Clock, MonotonicClock
from storelink.fakes.data.builder import build_demo_store
from storelink.fakes.data.entities import DEFAULT_SEED, DEFAULT_SHOP_NAME, DEFAULT_TODAY, DEMO_TIMEZONE, DemoStore
from storelink.store_calendar import WallClock, noon_on


@lru_cache(maxsize=64)
def demo_store(today: date = DEFAULT_TODAY, seed: int = DEFAULT_SEED, shop_name: str = DEFAULT_SHOP_NAME) -> DemoStore:
    """The demo store for ``today``, built once per ``(today, seed, shop_name)`` and shared (it is
    immutable). Several demo stores (``STORELINK_DEMO_STORES``) differ by seed."""
    return build_demo_store(today=today, seed=seed, shop_name=shop_name)


def current_demo_store(
    today: date | None = None,
    *,
    wall: Callable[[], float] | None = None,
    seed: int = DEFAULT_SEED,
    shop_name: str = DEFAULT_SHOP_NAME,
) -> DemoStore:
    """What mock mode serves: the demo store as of ``today`` (``STORELINK_DEMO_TODAY``), else as of
    the shop's own date on ``wall`` (epoch seconds; the system clock when not given), so "the last
    N days" always reach the present. Deterministic for a given day; a process keeps the day it
    started on."""
    if today is None:
        now = wall() if wall is not None else time_now()
        today = datetime.fromtimestamp(now, ZoneInfo(DEMO_TIMEZONE)).date()
    return demo_store(today, seed, shop_name)


def demo_wall(today: date | None = None, clock: Clock | None = None) -> WallClock:
    """Mock mode's wall clock. Pinned (``STORELINK_DEMO_TODAY``), it starts at noon on ``today`` in the
    demo shop's zone and moves on from there, so connectors and fakes agree that it is that day
    whatever the real date (tests pin it so their figures hold on any day); else it is the real time."""
    anchor = noon_on(today, ZoneInfo(DEMO_TIMEZONE)) if today is not None else None
    return WallClock(clock or MonotonicClock(), anchor=anchor)
