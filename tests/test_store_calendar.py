"""The store calendar: one wall clock read in the zone whose days a call counts. Every instant here is
pinned, so these hold on any day; each sits where a UTC or host-zone reading would give another date."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from storelink.clock import FakeClock
from storelink.store_calendar import PACIFIC, StoreCalendar, WallClock, noon_on, zone_named

NEW_YORK = ZoneInfo("America/New_York")


def at(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize(
    ("instant", "zone", "today", "last_7"),
    [
        # New Year, 00:30 UTC: already 2027 in UTC, still 31 December for the shop and for Google.
        ("2027-01-01T00:30:00+00:00", NEW_YORK, dt.date(2026, 12, 31), (dt.date(2026, 12, 24), dt.date(2026, 12, 30))),
        ("2027-01-01T00:30:00+00:00", PACIFIC, dt.date(2026, 12, 31), (dt.date(2026, 12, 24), dt.date(2026, 12, 30))),
        # 05:30 UTC: the shop has reached 2027, Pacific has not.
        ("2027-01-01T05:30:00+00:00", NEW_YORK, dt.date(2027, 1, 1), (dt.date(2026, 12, 25), dt.date(2026, 12, 31))),
        ("2027-01-01T05:30:00+00:00", PACIFIC, dt.date(2026, 12, 31), (dt.date(2026, 12, 24), dt.date(2026, 12, 30))),
        # A leap day: the week ending yesterday crosses 29 February.
        ("2028-03-01T12:00:00+00:00", NEW_YORK, dt.date(2028, 3, 1), (dt.date(2028, 2, 23), dt.date(2028, 2, 29))),
        ("2028-03-01T03:00:00+00:00", NEW_YORK, dt.date(2028, 2, 29), (dt.date(2028, 2, 22), dt.date(2028, 2, 28))),
    ],
)
def test_today_and_the_last_days_are_the_zones(
    instant: str, zone: ZoneInfo, today: dt.date, last_7: tuple[dt.date, dt.date]
) -> None:
    calendar = StoreCalendar(lambda: at(instant), zone)
    assert calendar.today() == today
    assert calendar.last_days(7) == last_7
    assert calendar.last_days(1) == (last_7[1], last_7[1])


def test_a_day_across_a_daylight_saving_change_is_23_or_25_hours() -> None:
    calendar = StoreCalendar(lambda: at("2027-03-14T12:00:00+00:00"), NEW_YORK)
    spring = calendar.start_of(dt.date(2027, 3, 15)) - calendar.start_of(dt.date(2027, 3, 14))
    autumn = calendar.start_of(dt.date(2026, 11, 2)) - calendar.start_of(dt.date(2026, 11, 1))
    assert spring == dt.timedelta(hours=23) and autumn == dt.timedelta(hours=25)
    assert calendar.start_of(dt.date(2026, 11, 1)) == dt.datetime(2026, 11, 1, 4, tzinfo=dt.UTC)
    # 01:30 happens twice that night; both are 1 November.
    first, second = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
    assert calendar.day_of(first) == calendar.day_of(second) == dt.date(2026, 11, 1)


def test_the_wall_clock_moves_with_its_monotonic_clock_only() -> None:
    clock = FakeClock(start=50.0)
    wall = WallClock(clock, anchor=at("2027-01-01T00:30:00+00:00"))
    calendar = StoreCalendar(wall, NEW_YORK)
    assert calendar.today() == dt.date(2026, 12, 31)
    clock.advance(5 * 3600)  # 05:30 UTC: past the shop's midnight
    assert calendar.today() == dt.date(2027, 1, 1)
    assert wall() == at("2027-01-01T05:30:00+00:00")


def test_a_pinned_day_is_noon_there() -> None:
    noon = noon_on(dt.date(2028, 2, 29), NEW_YORK)
    assert dt.datetime.fromtimestamp(noon, dt.UTC) == dt.datetime(2028, 2, 29, 17, tzinfo=dt.UTC)
    for zone in (NEW_YORK, PACIFIC, dt.UTC, ZoneInfo("Europe/Berlin")):
        assert dt.datetime.fromtimestamp(noon, zone).date() == dt.date(2028, 2, 29)


def test_an_unknown_or_missing_zone_falls_back() -> None:
    assert zone_named("America/New_York") == NEW_YORK
    assert zone_named(None) is dt.UTC
    assert zone_named("Not/AZone") is dt.UTC
    assert zone_named("", default=PACIFIC) is PACIFIC
