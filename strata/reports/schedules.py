"""When a schedule runs next: wall-clock times in the schedule's own IANA timezone, stored in UTC.

The next run is always recomputed from the timezone, never converted once at save time, so
09:00 in New York stays 09:00 there on both sides of a DST change. A wall time that does not
exist that day (inside a spring-forward gap) runs at the first instant after the gap; a wall time
that happens twice (fall back) runs once, at its first occurrence. Monthly schedules on day
29–31 run on the month's last day in shorter months.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FREQUENCIES = ("none", "daily", "weekly", "monthly")
MAX_SEARCH_DAYS = 400


def parse_time(text: str) -> time:
    """Return the time of an "HH:MM" string; raise ValueError."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) in (1, 2)):
        raise ValueError(f"{text!r} is not HH:MM")
    return time(int(hours), int(minutes))


def wall_clock_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Return the UTC instant of wall time `at` on `day` in `tz`.

    fold=0 picks the first of two occurrences in an overlap, and for a time inside a gap it
    reads the time with the offset before the change, which lands as far after the gap's start
    as the wall time was: 02:30 on a spring-forward night runs at 03:30.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def runs_on(config: dict, day: date) -> bool:
    """Return whether a schedule with `config` runs on local date `day`."""
    frequency = config.get("frequency", "none")
    if frequency == "daily":
        return True
    if frequency == "weekly":
        return day.isoweekday() in set(config.get("daysOfWeek") or ())
    if frequency == "monthly":
        wanted = int(config["dayOfMonth"])
        return day.day == min(wanted, calendar.monthrange(day.year, day.month)[1])
    return False


def next_run(config: dict, after: datetime) -> datetime | None:
    """Return the first run strictly after `after` (UTC), or None for `none`."""
    if config.get("frequency", "none") == "none":
        return None
    tz = ZoneInfo(config["timezone"])
    at = parse_time(config["time"])
    day = after.astimezone(tz).date() - timedelta(days=1)
    for _ in range(MAX_SEARCH_DAYS):
        if runs_on(config, day):
            instant = wall_clock_utc(day, at, tz)
            if instant > after:
                return instant
        day += timedelta(days=1)
    return None


def upcoming(config: dict, after: datetime, count: int = 5) -> list[datetime]:
    """Return the next `count` runs after `after`, in UTC."""
    found: list[datetime] = []
    moment = after
    while len(found) < count:
        following = next_run(config, moment)
        if following is None:
            break
        found.append(following)
        moment = following
    return found


def latest_due(config: dict, since: datetime, now: datetime) -> datetime | None:
    """Return the last scheduled run in (since - ε, now], the one a catch-up runs once for."""
    latest = None
    moment = since - timedelta(microseconds=1)
    while (following := next_run(config, moment)) is not None and following <= now:
        latest, moment = following, following
    return latest
