"""Validation of the wizard's steps: raw form input in, normalised configuration out.

Every refusal is a FieldError naming the form field and the rule, raised together as one
ValidationError so a step shows all its problems at once.
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from zoneinfo import available_timezones

from croniter import croniter

from strata.errors import FieldError, ValidationError
from strata.reports import retries, sources
from strata.reports.schedules import FREQUENCIES, MAX_CATCH_UP, parse_time
from strata.reports.segmentation import MAX_WINDOW_DAYS, SEGMENT_TYPES

LOOKBACKS = ("7d", "14d", "30d", "weeks", "months", "custom")
MAX_COUNT = {"weeks": 521, "months": 120}  # ten years
PARALLEL_RANGE = (1, 50)
ATTEMPTS_RANGE = (1, 10)
BACKOFF_RANGE = (0.05, 3600.0)
TIMEOUT_RANGE = (1.0, 3600.0)
MAX_TIMES_A_DAY = 24
# Custom ranges stay well inside what dates and UTC instants can hold in every timezone.
FIRST_DATE, LAST_DATE = date(1800, 1, 1), date(2199, 12, 31)
_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else None


def _number(raw: str | None) -> float | None:
    raw = (raw or "").strip()
    return float(raw) if re.fullmatch(r"\d{1,6}(\.\d{1,3})?", raw) else None


def _checked(raw: dict, name: str) -> bool:
    return str(raw.get(name, "")).lower() in ("1", "on", "true", "yes")


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def lookback(raw: dict) -> tuple[dict, list[FieldError]]:
    """Return the `lookback_config` of the form's lookback inputs and any errors (`includeToday` when ticked)."""
    config, errors = _lookback(raw)
    if config and _checked(raw, "include_today"):
        config["includeToday"] = True
    return config, errors


def _lookback(raw: dict) -> tuple[dict, list[FieldError]]:
    kind = raw.get("lookback", "")
    if kind in ("7d", "14d", "30d"):
        return {"type": "relative", "value": int(kind[:-1]), "unit": "days"}, []
    if kind in MAX_COUNT:
        count = _int(raw.get("lookback_count"))
        if count is None or not 1 <= count <= MAX_COUNT[kind]:
            return {}, [FieldError("lookback_count", "range",
                                   f"Number of {kind} must be a whole number from 1 to {MAX_COUNT[kind]} "
                                   "(at most ten years).")]
        return {"type": "relative", "value": count, "unit": kind}, []
    if kind != "custom":
        return {}, [FieldError("lookback", "choice", "Choose a lookback: 7, 14 or 30 days, weeks, months or custom.")]
    start, end = _date(raw.get("start_date")), _date(raw.get("end_date"))
    errors = []
    for name, label, value in (("start_date", "Start date", start), ("end_date", "End date", end)):
        if value is None:
            errors.append(FieldError(name, "date", f"{label} must be a date (YYYY-MM-DD)."))
        elif not FIRST_DATE <= value <= LAST_DATE:
            errors.append(FieldError(name, "date_range", f"{label} must be from {FIRST_DATE} to {LAST_DATE}."))
    if not errors and end < start:
        errors.append(FieldError("end_date", "after_start", "End date must be on or after the start date."))
    elif not errors and (end - start).days + 1 > MAX_WINDOW_DAYS:
        errors.append(FieldError("start_date", "max_range", "A custom range may cover at most ten years."))
    if errors:
        return {}, errors
    return {"type": "custom", "startDate": start.isoformat(), "endDate": end.isoformat()}, []


def segmentation(raw: dict) -> tuple[dict, list[FieldError]]:
    """Return the `segmentation_config` of the form's inputs and any errors."""
    errors = []
    kind = raw.get("segment_type", "")
    if kind not in SEGMENT_TYPES:
        errors.append(FieldError("segment_type", "choice", "Segments must be daily, weekly or monthly."))
    limit = _int(raw.get("parallel_limit"))
    low, high = PARALLEL_RANGE
    if limit is None or not low <= limit <= high:
        errors.append(FieldError("parallel_limit", "range",
                                 f"Parallel limit must be a whole number from {low} to {high}."))
    config = {"type": kind, "parallel_limit": limit, "retry_failed": _checked(raw, "retry_failed")}
    for name, label, (low, high), default, whole in (
            ("max_attempts", "Attempts", ATTEMPTS_RANGE, retries.MAX_ATTEMPTS, True),
            ("backoff_seconds", "Back-off", BACKOFF_RANGE, retries.BACKOFF_SECONDS, False),
            ("timeout_seconds", "Segment timeout", TIMEOUT_RANGE, retries.TIMEOUT_SECONDS, False)):
        text = str(raw.get(name) or "").strip()
        value = _number(text) if text else float(default)
        if value is None or not low <= value <= high or (whole and value % 1):
            kind_text = "a whole number" if whole else "a number of seconds"
            errors.append(FieldError(name, "range", f"{label} must be {kind_text} from {low:g} to {high:g}."))
            continue
        config[name] = int(value) if whole else value
    return config, errors


def parameters(raw: dict) -> dict:
    """Validate the parameters step; return {name, data_source, parameters, lookback_config, segmentation_config}."""
    errors: list[FieldError] = []
    name = (raw.get("name") or "").strip()
    if not name:
        errors.append(FieldError("name", "required", "Give the report a name."))
    elif len(name) > 200:
        errors.append(FieldError("name", "max_length", "Name must be at most 200 characters."))
    params = {}
    key = raw.get("data_source", "")
    if key not in sources.REGISTRY:
        errors.append(FieldError("data_source", "choice", "Choose a data source."))
    else:
        try:
            params = sources.validate(key, raw.get("metric", ""), raw)
        except ValidationError as exc:
            errors.extend(exc.errors)
    look, look_errors = lookback(raw)
    seg, seg_errors = segmentation(raw)
    errors += look_errors + seg_errors
    if errors:
        raise ValidationError(errors)
    return {"name": name, "data_source": key, "parameters": params, "lookback_config": look,
            "segmentation_config": seg}


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone(name: str, field: str = "timezone") -> str:
    """Return `name` if it is an IANA timezone; raise ValidationError naming `field`."""
    if name in _zones():
        return name
    raise ValidationError.single(field, "timezone", f"{name!r} is not a known IANA timezone (like Europe/London).")


def _times(raw: dict, errors: list[FieldError]) -> list[str]:
    parts = [p.strip() for p in str(raw.get("time") or "").split(",") if p.strip()]
    if not parts or any(not _TIME.match(p) for p in parts):
        errors.append(FieldError("time", "time", "Time must be HH:MM on a 24-hour clock (several: 09:00, 17:30)."))
        return parts
    if len(parts) > MAX_TIMES_A_DAY:
        errors.append(FieldError("time", "max_items", f"At most {MAX_TIMES_A_DAY} times a day."))
    return sorted({f"{parse_time(p):%H:%M}" for p in parts})


def _schedule_bounds(raw: dict, config: dict, errors: list[FieldError]) -> None:
    """Add the optional start and end dates, catch-up and failure-streak settings."""
    for name, key, label in (("start_date", "startDate", "Start date"), ("end_date", "endDate", "End date")):
        text = str(raw.get(name) or "").strip()
        if text:
            value = _date(text)
            if value is None or not FIRST_DATE <= value <= LAST_DATE:
                errors.append(FieldError(name, "date", f"{label} must be a date (YYYY-MM-DD) from {FIRST_DATE} "
                                                       f"to {LAST_DATE}."))
            else:
                config[key] = value.isoformat()
    if config.get("startDate") and config.get("endDate") and config["endDate"] < config["startDate"]:
        errors.append(FieldError("end_date", "after_start", "End date must be on or after the start date."))
    if _checked(raw, "catch_up"):
        count = _int(raw.get("max_catch_up")) if str(raw.get("max_catch_up") or "").strip() else 10
        if count is None or not 1 <= count <= MAX_CATCH_UP:
            errors.append(FieldError("max_catch_up", "range",
                                     f"Missed runs to catch up must be a whole number from 1 to {MAX_CATCH_UP}."))
        config.update(catchUp=True, maxCatchUp=count)
    streak = _int(raw.get("pause_after_failures")) if str(raw.get("pause_after_failures") or "").strip() else 0
    if streak is None or not 0 <= streak <= 100:
        errors.append(FieldError("pause_after_failures", "range",
                                 "Pause after failed runs must be a whole number from 0 (never) to 100."))
    elif streak:
        config["pauseAfterFailures"] = streak


def schedule(raw: dict, default_timezone: str = "UTC") -> dict:
    """Validate the schedule step; return the `schedule_config`."""
    frequency = raw.get("frequency", "none")
    if frequency not in FREQUENCIES:
        raise ValidationError.single("frequency", "choice",
                                     "Frequency must be none, hourly, daily, weekly, monthly or cron.")
    if frequency == "none":
        return {"frequency": "none"}
    errors: list[FieldError] = []
    tz = (raw.get("timezone") or default_timezone).strip()
    try:
        timezone(tz)
    except ValidationError as exc:
        errors.extend(exc.errors)
    config: dict = {"frequency": frequency, "timezone": tz}
    if frequency == "hourly":
        minute = _int(raw.get("minute")) if str(raw.get("minute") or "").strip() else 0
        if minute is None or not 0 <= minute <= 59:
            errors.append(FieldError("minute", "range", "Minute past the hour must be a whole number from 0 to 59."))
        config["minute"] = minute
    elif frequency == "cron":
        expression = " ".join(str(raw.get("cron") or "").split())
        if len(expression) > 100 or len(expression.split()) != 5 or not croniter.is_valid(expression):
            errors.append(FieldError("cron", "cron", "Cron expression must have five fields: minute hour "
                                                     "day-of-month month day-of-week (like 0 9 * * 1-5)."))
        config["cron"] = expression
    else:
        times = _times(raw, errors)
        config["time"], config["times"] = (times[0] if times else ""), times
    if frequency == "weekly":
        days = sorted({d for d in (_int(v) for v in raw.get("days_of_week", [])) if d is not None})
        if not days or any(not 1 <= d <= 7 for d in days):
            errors.append(FieldError("days_of_week", "required", "Choose at least one day of the week."))
        config["daysOfWeek"] = days
    if frequency == "monthly":
        day = _int(raw.get("day_of_month"))
        if day is None or not 1 <= day <= 31:
            errors.append(FieldError("day_of_month", "range", "Day of month must be a whole number from 1 to 31."))
        config["dayOfMonth"] = day
    _schedule_bounds(raw, config, errors)
    if errors:
        raise ValidationError(errors)
    return config


def window_is_sane(start: date, end: date) -> None:
    """Raise ValidationError unless [start, end] is ordered and at most ten years long."""
    if end < start:
        raise ValidationError.single("end_date", "after_start", "End date must be on or after the start date.")
    if end - start >= timedelta(days=MAX_WINDOW_DAYS):
        raise ValidationError.single("start_date", "max_range", "A range may cover at most ten years.")
