"""Validation of the wizard's steps: raw form input in, normalised configuration out.

Every refusal is a FieldError naming the form field and the rule, raised together as one
ValidationError so a step shows all its problems at once.
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from zoneinfo import available_timezones

from strata.errors import FieldError, ValidationError
from strata.reports import sources
from strata.reports.schedules import FREQUENCIES, parse_time
from strata.reports.segmentation import MAX_WINDOW_DAYS, SEGMENT_TYPES

LOOKBACKS = ("7d", "14d", "30d", "weeks", "months", "custom")
MAX_COUNT = {"weeks": 521, "months": 120}  # ten years
PARALLEL_RANGE = (1, 50)
# Custom ranges stay well inside what dates and UTC instants can hold in every timezone.
FIRST_DATE, LAST_DATE = date(1800, 1, 1), date(2199, 12, 31)
_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else None


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def lookback(raw: dict) -> tuple[dict, list[FieldError]]:
    """Return the `lookback_config` of the form's lookback inputs and any errors."""
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
    retry = str(raw.get("retry_failed", "")).lower() in ("1", "on", "true", "yes")
    return {"type": kind, "parallel_limit": limit, "retry_failed": retry}, errors


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


def schedule(raw: dict, default_timezone: str = "UTC") -> dict:
    """Validate the schedule step; return the `schedule_config`."""
    frequency = raw.get("frequency", "none")
    if frequency not in FREQUENCIES:
        raise ValidationError.single("frequency", "choice", "Frequency must be none, daily, weekly or monthly.")
    if frequency == "none":
        return {"frequency": "none"}
    errors: list[FieldError] = []
    at = (raw.get("time") or "").strip()
    if not _TIME.match(at):
        errors.append(FieldError("time", "time", "Time must be HH:MM on a 24-hour clock."))
    tz = (raw.get("timezone") or default_timezone).strip()
    try:
        timezone(tz)
    except ValidationError as exc:
        errors.extend(exc.errors)
    config = {"frequency": frequency, "time": f"{parse_time(at):%H:%M}" if _TIME.match(at) else at,
              "timezone": tz}
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
    if errors:
        raise ValidationError(errors)
    return config


def window_is_sane(start: date, end: date) -> None:
    """Raise ValidationError unless [start, end] is ordered and at most ten years long."""
    if end < start:
        raise ValidationError.single("end_date", "after_start", "End date must be on or after the start date.")
    if end - start >= timedelta(days=MAX_WINDOW_DAYS):
        raise ValidationError.single("start_date", "max_range", "A range may cover at most ten years.")
