"""Lookback windows and their segments, in the tenant's timezone (rules in `strata.reports.clock`).

A window is a range of local dates, both ends included, of days that have ended (or up to today
when the report includes today so far). A segment covers whole local days: daily, weekly (Monday
to Sunday) or monthly (calendar month); the first and last segment are clipped to the window.
Each segment also carries its UTC instants, half-open, from the first instant of its first day
to the first instant of the day after it, so a segment containing a DST change lasts 23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from strata.reports.clock import day_start_utc

SEGMENT_TYPES = ("daily", "weekly", "monthly")
LOOKBACK_UNITS = ("days", "weeks", "months")
MAX_WINDOW_DAYS = 3653  # ten years, leap days included


@dataclass(frozen=True)
class Segment:
    """One segment: local first and last day, and the UTC instants [start, end)."""

    start: date
    end: date
    period_start: datetime
    period_end: datetime

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def hours(self) -> float:
        return (self.period_end - self.period_start).total_seconds() / 3600


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    """Return the UTC instant at which `day` begins in `tz` (a midnight in a gap: the first instant after it)."""
    return day_start_utc(day, tz)


def lookback_window(config: dict, as_of: date) -> tuple[date, date]:
    """Return the (first, last) local dates a lookback config covers, relative to `as_of` (the tenant's today).

    Relative windows end on the day before `as_of` (the last day that has ended), or on `as_of`
    itself when the config has `includeToday`: 7 days back from Wednesday covers the previous
    Wednesday to Tuesday (or Thursday to Wednesday, today so far); N months back starts on the
    same day of the month N months earlier (clamped to month ends). A custom range ends at the
    latest on that same last day; its start is kept (a range wholly in the future is empty: its
    end comes before its start).
    """
    last = as_of if config.get("includeToday") else as_of - timedelta(days=1)
    if config.get("type") == "custom":
        return date.fromisoformat(config["startDate"]), min(date.fromisoformat(config["endDate"]), last)
    value, unit = int(config["value"]), config["unit"]
    end = last
    if config.get("includeToday"):
        as_of += timedelta(days=1)
    if unit == "days":
        start = as_of - timedelta(days=value)
    elif unit == "weeks":
        start = as_of - timedelta(weeks=value)
    else:
        start = as_of - relativedelta(months=value)
    return start, end


def window_at(config: dict, run_at: datetime, tenant_tz: ZoneInfo | str) -> tuple[date, date]:
    """Return the lookback window of a run at instant `run_at`: relative to the tenant's date then, in its zone.

    The schedule's own timezone plays no part: the window is made of the tenant's days.
    """
    from strata.reports.clock import local_today

    return lookback_window(config, local_today(tenant_tz, run_at))


def _next_boundary(day: date, kind: str) -> date:
    """Return the first day of the segment after the one containing `day`."""
    if kind == "daily":
        return day + timedelta(days=1)
    if kind == "weekly":
        return day + timedelta(days=7 - day.weekday())
    return day.replace(day=1) + relativedelta(months=1)


def segments(start: date, end: date, kind: str, tz: ZoneInfo | str) -> list[Segment]:
    """Split the local dates [start, end] into `kind` segments in `tz`, clipped to the range."""
    if kind not in SEGMENT_TYPES:
        raise ValueError(f"unknown segment type {kind!r}")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    found: list[Segment] = []
    day = start
    while day <= end:
        following = min(_next_boundary(day, kind), end + timedelta(days=1))
        found.append(Segment(day, following - timedelta(days=1),
                             local_midnight_utc(day, zone), local_midnight_utc(following, zone)))
        day = following
    return found


def count_segments(start: date, end: date, kind: str) -> int:
    """Return how many segments `segments()` would make, without building them."""
    if kind == "daily":
        return (end - start).days + 1
    if kind == "weekly":
        first_monday = start - timedelta(days=start.weekday())
        return (end - first_monday).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1
