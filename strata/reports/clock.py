"""The time rules of reports, in one place: how wall times become instants and which days a window holds.

1. **A wall time becomes the earliest instant whose local reading is at or after it.** In the
   schedule's (or the tenant's) IANA zone:
   - an ordinary time is its one instant;
   - a time that happens twice (autumn overlap) is its first occurrence, and runs once;
   - a time that does not exist (spring-forward gap) is the first instant after the gap, the
     moment the clock jumps (02:30 on a night that skips 02:00–03:00 runs at 03:00, as cron
     does); a day that is skipped entirely (Pacific/Apia, 30 December 2011) maps to the next
     day's first instant. Local midnights that fall in a gap follow the same rule, so a
     segment of such a day is shorter by the gap.
2. **Windows are whole tenant days that have ended.** A window is a range of local dates in the
   tenant's zone, both ends included, that ends at the latest on the tenant's yesterday, whatever
   the schedule's own zone (a schedule in Pacific/Kiritimati never reads the tenant's unfinished
   day). Only when the report asks for it (`includeToday`) does the window end today; that last
   segment is computed over today so far and is labelled *partial*.
3. **Segments are half-open UTC ranges** from the first instant of their first day to the first
   instant of the day after their last (rule 1 for both ends); a segment over a DST change lasts
   23 or 25 hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def zone(tz: ZoneInfo | str) -> ZoneInfo:
    """Return `tz` as a ZoneInfo."""
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _reading(instant_seconds: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(instant_seconds, UTC).astimezone(tz).replace(tzinfo=None)


def local_instant(wall: datetime, tz: ZoneInfo | str) -> datetime:
    """Return the UTC instant of the naive local `wall` time in `tz` by rule 1 (see the module docstring)."""
    tz = zone(tz)
    first = wall.replace(tzinfo=tz, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc  # it exists; fold=0 is the first of two occurrences
    # In a gap: fold=1 reads the wall time with the offset after the change (an instant before the
    # gap), fold=0 with the offset before it (an instant after). The jump lies between: find the
    # first whole second whose reading is at or after the wall time.
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = sorted((int(other.timestamp()), int(utc.timestamp())))
    while low + 1 < high:
        middle = (low + high) // 2
        if _reading(middle, tz) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def wall_clock_utc(day: date, at: time, tz: ZoneInfo | str) -> datetime:
    """Return the UTC instant of wall time `at` on `day` in `tz` (rule 1)."""
    return local_instant(datetime.combine(day, at), tz)


def day_start_utc(day: date, tz: ZoneInfo | str) -> datetime:
    """Return the UTC instant at which local `day` begins in `tz` (rule 1 for midnight)."""
    return wall_clock_utc(day, time(0), tz)


def local_today(tz: ZoneInfo | str, now: datetime | None = None) -> date:
    """Return the local date in `tz` at `now` (default: the current instant)."""
    return (now or datetime.now(UTC)).astimezone(zone(tz)).date()


def last_window_day(tz: ZoneInfo | str, now: datetime | None = None, include_today: bool = False) -> date:
    """Return the last day a window may hold in zone `tz` at `now`: yesterday, or today when asked (rule 2)."""
    today = local_today(tz, now)
    return today if include_today else today - timedelta(days=1)
