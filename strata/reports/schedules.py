"""When a schedule runs: wall-clock times in the schedule's own IANA timezone, stored in UTC.

Frequencies: `hourly` (at a minute past every hour), `daily`, `weekly` (chosen weekdays) and
`monthly` (a day of the month; 29–31 run on the last day of shorter months), each at one or
several times of day, or `cron` (a five-field cron expression, read by `croniter` in local wall
time). Optional `startDate` / `endDate` (local dates) bound the runs.

The next run is always recomputed from the timezone, never converted once at save time, so
09:00 in New York stays 09:00 there on both sides of a DST change. Wall times become instants by
the rule of `strata.reports.clock`: a time inside a spring-forward gap runs at the first instant
after the gap; a time that happens twice runs once, at its first occurrence.
"""

from __future__ import annotations

import calendar
from collections import deque
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from strata.reports.clock import local_instant, wall_clock_utc  # noqa: F401  (wall_clock_utc re-exported)

FREQUENCIES = ("none", "hourly", "daily", "weekly", "monthly", "cron")
MAX_SEARCH_DAYS = 400
MAX_CANDIDATES = 20_000
MAX_CATCH_UP = 50  # at most this many missed slots run after downtime (the most recent ones)


def parse_time(text: str) -> time:
    """Return the time of an "HH:MM" string; raise ValueError."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) in (1, 2)):
        raise ValueError(f"{text!r} is not HH:MM")
    return time(int(hours), int(minutes))


def times_of(config: dict) -> list[time]:
    """Return the schedule's times of day, sorted (`times`, or the single `time` of older configs)."""
    raw = config.get("times") or [config.get("time", "00:00")]
    return sorted({parse_time(t) for t in raw})


def runs_on(config: dict, day: date) -> bool:
    """Return whether a daily, weekly or monthly schedule with `config` runs on local date `day`."""
    frequency = config.get("frequency", "none")
    if frequency in ("daily", "hourly"):
        return True
    if frequency == "weekly":
        return day.isoweekday() in set(config.get("daysOfWeek") or ())
    if frequency == "monthly":
        wanted = int(config["dayOfMonth"])
        return day.day == min(wanted, calendar.monthrange(day.year, day.month)[1])
    return False


def _wall_times(config: dict, start: datetime) -> Iterator[datetime]:
    """Yield the schedule's naive local wall times from `start` on, ascending."""
    frequency = config["frequency"]
    if frequency == "cron":
        it = croniter(config["cron"], start - timedelta(microseconds=1))
        while True:
            yield it.get_next(datetime)
    day = start.date()
    for _ in range(MAX_SEARCH_DAYS):
        if frequency == "hourly":
            moments = [time(hour, int(config.get("minute", 0))) for hour in range(24)]
        else:
            moments = times_of(config) if runs_on(config, day) else []
        for moment in moments:
            wall = datetime.combine(day, moment)
            if wall >= start:
                yield wall
        day += timedelta(days=1)


def _bounds(config: dict) -> tuple[date | None, date | None]:
    start, end = config.get("startDate"), config.get("endDate")
    return (date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None)


def next_run(config: dict, after: datetime) -> datetime | None:
    """Return the first run strictly after `after` (UTC), or None (`none`, or past the end date)."""
    if config.get("frequency", "none") == "none":
        return None
    tz = ZoneInfo(config["timezone"])
    first_day, last_day = _bounds(config)
    # Two days back: a wall time up to a day earlier can map past `after` (a skipped day).
    start = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=2)
    if first_day is not None:
        start = max(start, datetime.combine(first_day, time(0)))
    for count, wall in enumerate(_wall_times(config, start)):
        if (last_day is not None and wall.date() > last_day) or count > MAX_CANDIDATES:
            return None
        instant = local_instant(wall, tz)
        if instant > after:
            return instant
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


def due_slots(config: dict, since: datetime, now: datetime, limit: int = MAX_CATCH_UP) -> list[datetime]:
    """Return the scheduled runs in [since, now], at most the `limit` most recent, oldest first."""
    kept: deque[datetime] = deque(maxlen=max(limit, 1))
    moment = since - timedelta(microseconds=1)
    while (following := next_run(config, moment)) is not None and following <= now:
        kept.append(following)
        moment = following
    return list(kept)


def latest_due(config: dict, since: datetime, now: datetime) -> datetime | None:
    """Return the last scheduled run in [since, now], the one a schedule without catch-up runs once for."""
    found = due_slots(config, since, now, 1)
    return found[-1] if found else None


def describe(config: dict) -> str:
    """Return a short human description of the schedule, in its own timezone."""
    frequency = config.get("frequency", "none")
    if frequency == "none":
        return "not scheduled"
    tz = config.get("timezone", "UTC")
    if frequency == "cron":
        return f"cron “{config['cron']}” ({tz})"
    if frequency == "hourly":
        return f"hourly at :{int(config.get('minute', 0)):02d} ({tz})"
    at = ", ".join(f"{t:%H:%M}" for t in times_of(config))
    if frequency == "weekly":
        days = ", ".join(calendar.day_abbr[d - 1] for d in config.get("daysOfWeek") or ())
        return f"weekly on {days} at {at} ({tz})"
    if frequency == "monthly":
        return f"monthly on day {config.get('dayOfMonth')} at {at} ({tz})"
    return f"daily at {at} ({tz})"


def in_zone(instant: datetime | None, tz: str) -> datetime | None:
    """Return `instant` in the zone `tz` (None stays None)."""
    return instant.astimezone(ZoneInfo(tz)) if instant is not None else None

