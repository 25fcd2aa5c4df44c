"""Next runs in the schedule's own timezone, for every frequency, month ends and DST changes."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from strata.reports.schedules import latest_due, next_run, upcoming

NY, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


def local(instant, tz):
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M %a")


def test_none_never_runs():
    assert next_run({"frequency": "none"}, datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert upcoming({"frequency": "none"}, datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_daily_keeps_wall_time_across_new_york_dst():
    runs = upcoming({"frequency": "daily", "time": "09:00", "timezone": "America/New_York"},
                    datetime(2026, 3, 7, 0, 0, tzinfo=UTC), 3)
    assert [local(r, NY) for r in runs] == ["2026-03-07 09:00 Sat", "2026-03-08 09:00 Sun", "2026-03-09 09:00 Mon"]
    assert [r.hour for r in runs] == [14, 13, 13]  # UTC moves, wall time does not


def test_time_in_the_spring_gap_runs_just_after_it_and_autumn_overlap_runs_once():
    spring = upcoming({"frequency": "daily", "time": "01:30", "timezone": "Europe/London"},
                      datetime(2026, 3, 28, 12, 0, tzinfo=UTC), 2)
    # 01:30 does not exist on 29 March (01:00 jumps to 02:00): it runs at the first instant after the gap.
    assert [local(r, LONDON) for r in spring] == ["2026-03-29 02:00 Sun", "2026-03-30 01:30 Mon"]
    autumn = upcoming({"frequency": "daily", "time": "01:30", "timezone": "Europe/London"},
                      datetime(2026, 10, 24, 12, 0, tzinfo=UTC), 3)
    assert [r.isoformat() for r in autumn] == ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00",
                                               "2026-10-27T01:30:00+00:00"]


def test_weekly_on_chosen_days():
    runs = upcoming({"frequency": "weekly", "time": "08:15", "timezone": "Europe/London", "daysOfWeek": [1, 3, 5]},
                    datetime(2026, 6, 1, 9, 0, tzinfo=UTC), 5)  # Monday 10:00 in London
    assert [local(r, LONDON) for r in runs] == ["2026-06-03 08:15 Wed", "2026-06-05 08:15 Fri",
                                                "2026-06-08 08:15 Mon", "2026-06-10 08:15 Wed",
                                                "2026-06-12 08:15 Fri"]


def test_monthly_day_31_falls_back_to_each_months_last_day_and_leap_february():
    runs = upcoming({"frequency": "monthly", "time": "23:30", "timezone": "America/New_York", "dayOfMonth": 31},
                    datetime(2028, 1, 5, tzinfo=UTC), 5)
    assert [local(r, NY) for r in runs] == ["2028-01-31 23:30 Mon", "2028-02-29 23:30 Tue", "2028-03-31 23:30 Fri",
                                            "2028-04-30 23:30 Sun", "2028-05-31 23:30 Wed"]
    # Stored in UTC on the next day, four hours later in EST (January, February), three in EDT.
    assert [r.strftime("%m-%d %H:%M") for r in runs] == ["02-01 04:30", "03-01 04:30", "04-01 03:30", "05-01 03:30",
                                                         "06-01 03:30"]


def test_weekly_keeps_wall_time_across_the_london_autumn_change():
    runs = upcoming({"frequency": "weekly", "time": "09:00", "timezone": "Europe/London", "daysOfWeek": [7]},
                    datetime(2026, 10, 17, tzinfo=UTC), 3)  # Sundays 18 and 25 October (change day), 1 November
    assert [local(r, LONDON) for r in runs] == ["2026-10-18 09:00 Sun", "2026-10-25 09:00 Sun",
                                                "2026-11-01 09:00 Sun"]
    assert [r.hour for r in runs] == [8, 9, 9]


def test_monthly_day_30_in_february_of_a_common_year():
    runs = upcoming({"frequency": "monthly", "time": "06:00", "timezone": "UTC", "dayOfMonth": 30},
                    datetime(2027, 1, 31, tzinfo=UTC), 2)
    assert [r.date().isoformat() for r in runs] == ["2027-02-28", "2027-03-30"]


def test_next_run_is_strictly_after():
    config = {"frequency": "daily", "time": "09:00", "timezone": "UTC"}
    at_nine = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert next_run(config, at_nine) == datetime(2026, 5, 2, 9, 0, tzinfo=UTC)


def test_catch_up_picks_only_the_latest_missed_slot():
    config = {"frequency": "daily", "time": "09:00", "timezone": "UTC"}
    missed_since = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    now = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)
    assert latest_due(config, missed_since, now) == datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
