"""Oracle tests for the time rules (strata.reports.clock): generated cases around every kind of DST change,
in zones with odd offsets, compared with an independent brute-force computation.

The oracle knows nothing of folds or gaps: it walks UTC minute by minute and takes the first
instant whose local reading is at or after the wall time.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from strata.reports.clock import local_instant
from strata.reports.schedules import upcoming
from strata.reports.segmentation import lookback_window, segments, window_at

ZONES = ["Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia", "America/Santiago", "Africa/Casablanca",
         "Antarctica/Troll", "America/New_York", "Pacific/Kiritimati"]


def oracle_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The earliest UTC minute whose local reading in `tz` is at or after the naive `wall`."""
    moment = (wall - timedelta(hours=15)).replace(tzinfo=UTC)  # reading at most wall - 1 h
    while moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


def transitions(tz: ZoneInfo, first_year: int = 1980, last_year: int = 2030) -> list[datetime]:
    """UTC days (noon) after which the zone's offset changed, found by a daily scan."""
    found, moment = [], datetime(first_year, 1, 1, 12, tzinfo=UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment.year <= last_year:
        following = moment + timedelta(days=1)
        now = following.astimezone(tz).utcoffset()
        if now != offset:
            found.append(moment)
        moment, offset = following, now
    return found


def wall_cases(tz: ZoneInfo, seed: int) -> list[datetime]:
    """Wall times over the local days around a sample of the zone's changes, plus random ordinary ones."""
    rng = random.Random(seed)
    changes = transitions(tz)
    sample = changes if len(changes) <= 8 else [changes[0], changes[-1], *rng.sample(changes[1:-1], 6)]
    cases: list[datetime] = []
    for noon in sample:
        for day_shift in (0, 1):
            day = (noon + timedelta(days=day_shift)).astimezone(tz).date()
            cases += [datetime.combine(day, time(0)) + timedelta(minutes=m) for m in range(0, 24 * 60, 35)]
    for _ in range(20):
        cases.append(datetime(rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28),
                              rng.randint(0, 23), rng.randint(0, 59)))
    return cases


@pytest.mark.parametrize("name", ZONES)
def test_wall_times_map_to_the_first_instant_at_or_after_them(name):
    tz = ZoneInfo(name)
    cases = wall_cases(tz, seed=len(name))
    assert len(cases) > 40
    wrong = [(wall, local_instant(wall, tz), oracle_instant(wall, tz)) for wall in cases
             if local_instant(wall, tz) != oracle_instant(wall, tz)]
    assert wrong == []


@pytest.mark.parametrize("name, wall, expected_utc", [
    ("America/New_York", datetime(2025, 3, 9, 2, 55), datetime(2025, 3, 9, 7, 0, tzinfo=UTC)),  # 03:00 EDT
    ("Antarctica/Troll", datetime(2025, 3, 30, 1, 5), datetime(2025, 3, 30, 1, 0, tzinfo=UTC)),  # 03:00 +02
    ("Australia/Lord_Howe", datetime(2025, 10, 5, 2, 10), datetime(2025, 10, 4, 15, 30, tzinfo=UTC)),  # 02:30 +11
    ("Pacific/Apia", datetime(2011, 12, 30, 9, 0), datetime(2011, 12, 30, 10, 0, tzinfo=UTC)),  # the skipped day
    ("America/New_York", datetime(2025, 11, 2, 1, 30), datetime(2025, 11, 2, 5, 30, tzinfo=UTC)),  # first 01:30
])
def test_known_gaps_and_overlaps(name, wall, expected_utc):
    assert local_instant(wall, ZoneInfo(name)) == expected_utc == oracle_instant(wall, ZoneInfo(name))


def _cron_walls(day: date) -> list[datetime]:
    """Wall times of "*/20 0-3 * * *" on `day`, enumerated without croniter."""
    return [datetime.combine(day, time(h, m)) for h in range(4) for m in (0, 20, 40)]


@pytest.mark.parametrize("name", ZONES)
def test_schedules_agree_with_the_oracle_across_changes(name):
    tz = ZoneInfo(name)
    for noon in transitions(tz, 2015, 2026)[-3:]:
        first = (noon - timedelta(days=1)).astimezone(tz).date()
        after = oracle_instant(datetime.combine(first, time(0)), tz) - timedelta(seconds=1)
        days = [first + timedelta(days=i) for i in range(3)]
        for config, walls in (
            ({"frequency": "daily", "times": ["00:30", "02:10", "02:30", "23:45"], "timezone": name},
             [datetime.combine(d, t) for d in days for t in (time(0, 30), time(2, 10), time(2, 30), time(23, 45))]),
            ({"frequency": "hourly", "minute": 30, "timezone": name},
             [datetime.combine(d, time(h, 30)) for d in days for h in range(24)]),
            ({"frequency": "cron", "cron": "*/20 0-3 * * *", "timezone": name},
             [w for d in days for w in _cron_walls(d)]),
        ):
            expected = sorted({oracle_instant(w, tz) for w in walls})
            expected = [e for e in expected if e > after]
            got = upcoming(config, after, len(expected))
            assert got == expected, (name, config["frequency"], noon)


@pytest.mark.parametrize("name", ZONES)
def test_daily_segments_start_at_each_days_first_instant_and_touch(name):
    tz = ZoneInfo(name)
    for noon in transitions(tz, 2005, 2026)[-6:]:
        day = noon.astimezone(tz).date()
        found = segments(day - timedelta(days=2), day + timedelta(days=2), "daily", tz)
        for seg in found:
            assert seg.period_start == oracle_instant(datetime.combine(seg.start, time(0)), tz)
            assert seg.period_end == oracle_instant(datetime.combine(seg.end + timedelta(days=1), time(0)), tz)
        assert all(a.period_end == b.period_start for a, b in zip(found, found[1:], strict=False))


@pytest.mark.parametrize("tenant_zone", ["UTC", *ZONES])
def test_windows_are_whole_tenant_days_that_have_ended(tenant_zone):
    """Runs at random instants (any schedule zone): every segment ended before the run, and the window
    reaches the last tenant midnight; with includeToday the last segment holds the run's instant."""
    tz, rng = ZoneInfo(tenant_zone), random.Random(tenant_zone)
    for _ in range(150):
        run_at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 3 * 365 * 24 * 60))
        config = rng.choice([{"type": "relative", "value": rng.randint(1, 30), "unit": "days"},
                             {"type": "relative", "value": rng.randint(1, 6), "unit": "weeks"},
                             {"type": "custom", "startDate": "2023-12-01", "endDate": "2030-01-01"}])
        start, end = window_at(config, run_at, tz)
        found = segments(start, end, "daily", tz)
        # The oracle's "tenant yesterday": the local date of the run, found by walking back from the run.
        local_day = run_at.astimezone(tz).date()
        assert found[-1].period_end <= run_at
        assert found[-1].period_end == oracle_instant(datetime.combine(local_day, time(0)), tz)
        partial = window_at({**config, "includeToday": True}, run_at, tz)
        last = segments(*partial, "daily", tz)[-1]
        assert last.period_start <= run_at < last.period_end and partial[1] == local_day


def test_a_schedule_ahead_of_the_tenant_never_reads_the_tenants_unfinished_day():
    # 06:00 on 2 March in Kiritimati (UTC+14) is 16:00 on 1 March in UTC: the tenant's 1 March has not ended.
    run_at = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert window_at({"type": "relative", "value": 7, "unit": "days"}, run_at, "UTC") == (date(2026, 2, 22),
                                                                                          date(2026, 2, 28))
    assert lookback_window({"type": "custom", "startDate": "2026-02-01", "endDate": "2026-12-31"},
                           date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))
