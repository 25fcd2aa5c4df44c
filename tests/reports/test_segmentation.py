"""Segments in the tenant's timezone: month ends, leap days, DST changes, ranges not aligned to weeks."""

from datetime import UTC, date, datetime

import pytest

from strata.reports.segmentation import count_segments, lookback_window, segments


def test_weekly_segments_start_monday_and_clip_an_unaligned_range():
    found = segments(date(2026, 1, 7), date(2026, 1, 22), "weekly", "UTC")  # Wednesday .. Thursday
    assert [(s.start, s.end) for s in found] == [
        (date(2026, 1, 7), date(2026, 1, 11)),
        (date(2026, 1, 12), date(2026, 1, 18)),
        (date(2026, 1, 19), date(2026, 1, 22)),
    ]
    assert all(s.start.weekday() == 0 for s in found[1:])
    assert count_segments(date(2026, 1, 7), date(2026, 1, 22), "weekly") == 3


def test_monthly_segments_end_on_each_months_last_day_including_leap_february():
    found = segments(date(2024, 1, 31), date(2024, 4, 30), "monthly", "UTC")
    assert [(s.start, s.end) for s in found] == [
        (date(2024, 1, 31), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 31)),
        (date(2024, 4, 1), date(2024, 4, 30)),
    ]
    assert [s.days for s in found] == [1, 29, 31, 30]
    assert found[1].hours == 29 * 24


def test_leap_day_is_its_own_daily_segment_and_a_week_over_it_has_seven_days():
    daily = segments(date(2024, 2, 28), date(2024, 3, 1), "daily", "UTC")
    assert [s.start for s in daily] == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    weekly = segments(date(2024, 2, 26), date(2024, 3, 3), "weekly", "UTC")
    assert len(weekly) == 1 and weekly[0].days == 7


@pytest.mark.parametrize("tz, spring, autumn, spring_utc", [
    ("Europe/London", date(2026, 3, 29), date(2026, 10, 25), datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
])
def test_dst_change_days_last_23_and_25_hours(tz, spring, autumn, spring_utc):
    (short,) = segments(spring, spring, "daily", tz)
    (long,) = segments(autumn, autumn, "daily", tz)
    assert short.hours == 23 and long.hours == 25
    assert short.period_start == spring_utc


def test_weekly_segment_across_the_london_spring_change_is_167_hours_and_segments_touch():
    found = segments(date(2026, 3, 23), date(2026, 4, 5), "weekly", "Europe/London")
    assert [s.hours for s in found] == [167, 168]
    assert found[0].period_end == found[1].period_start == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)


def test_new_york_monthly_segments_follow_local_midnight():
    found = segments(date(2026, 3, 1), date(2026, 4, 30), "monthly", "America/New_York")
    assert found[0].period_start == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # EST
    assert found[1].period_start == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # EDT
    assert found[0].hours == 31 * 24 - 1


def test_lookback_windows_end_yesterday():
    today = date(2026, 3, 31)
    assert lookback_window({"type": "relative", "value": 7, "unit": "days"}, today) == (date(2026, 3, 24),
                                                                                       date(2026, 3, 30))
    assert lookback_window({"type": "relative", "value": 2, "unit": "weeks"}, today)[0] == date(2026, 3, 17)
    assert lookback_window({"type": "relative", "value": 1, "unit": "months"}, today)[0] == date(2026, 2, 28)
    assert lookback_window({"type": "custom", "startDate": "2025-01-02", "endDate": "2025-01-09"}, today) == (
        date(2025, 1, 2), date(2025, 1, 9))


def test_ten_years_of_weeks_is_at_most_523_segments():
    assert count_segments(date(2016, 1, 1), date(2025, 12, 31), "weekly") == len(
        segments(date(2016, 1, 1), date(2025, 12, 31), "weekly", "UTC"))
