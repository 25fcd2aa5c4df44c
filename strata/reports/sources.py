"""The data sources a report can read: each validates its parameters and computes one segment.

A source's `compute(params, window)` runs inside the tenant's transaction and returns a series:
a mapping of label → number for that segment (for example event type → count). Computing a
segment again returns the same series, so re-running a segment replaces its data.

A source that fails raises `SourceError`; its `status` (an HTTP status, if any), `retry_after`
(seconds the remote asked for) and `retryable` tell the report's retry policy what to do
(`strata.reports.retries`). A source that waits watches `window.remaining()`, the attempt's timeout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from strata import outbound
from strata.db import db
from strata.errors import FieldError, ValidationError


@dataclass(frozen=True)
class Window:
    """The segment a source computes: local dates, UTC instants [start, end) and the attempt number."""

    start: date
    end: date
    period_start: datetime
    period_end: datetime
    attempt: int = 1
    deadline: float | None = None  # time.monotonic() by which the attempt must end

    def remaining(self, at_most: float | None = None) -> float:
        """Return the seconds left before the attempt's timeout (capped at `at_most`); raise SegmentTimeout if none."""
        left = float("inf") if self.deadline is None else self.deadline - time.monotonic()
        if left <= 0:
            raise SegmentTimeout(None)
        return left if at_most is None else min(left, at_most)


@dataclass(frozen=True)
class Param:
    """One source parameter as the wizard shows it."""

    name: str
    label: str
    kind: str = "text"  # text | number | choice | url
    default: Any = ""
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""


class SourceError(Exception):
    """A segment could not be computed; the message is shown on the segment and its attempt."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 retryable: bool = True):
        super().__init__(message)
        self.status, self.retry_after, self.retryable = status, retry_after, retryable


class SegmentTimeout(SourceError):
    """The attempt ran past the report's per-segment timeout."""

    def __init__(self, seconds: float | None):
        limit = f" of {seconds:g} s" if seconds else ""
        super().__init__(f"The segment took longer than its timeout{limit}.")


@dataclass(frozen=True)
class Source:
    """A registered data source."""

    key: str
    label: str
    description: str
    metrics: tuple[tuple[str, str], ...]
    params: tuple[Param, ...]
    compute: Callable[[dict, Window], dict[str, float]]
    seconds_per_segment: float = 0.05
    validate_extra: Callable[[dict], list[FieldError]] = field(default=lambda filters: [])


REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add `source` to the registry under its key."""
    REGISTRY[source.key] = source
    return source


def get(key: str) -> Source:
    """Return the source named `key`; raise ValidationError naming the field."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValidationError.single("data_source", "choice", f"Unknown data source {key!r}.") from None


def validate(key: str, metric: str, raw: dict[str, str]) -> dict:
    """Return the normalised parameters {metric, filters} of source `key`; raise ValidationError."""
    source = get(key)
    errors: list[FieldError] = []
    if metric not in dict(source.metrics):
        errors.append(FieldError("metric", "choice", f"Choose one of: {', '.join(k for k, _ in source.metrics)}."))
    filters: dict[str, Any] = {}
    for param in source.params:
        value = (raw.get(param.name) or "").strip()
        if param.kind == "number":
            try:
                number = float(value) if value else float(param.default or 0)
            except ValueError:
                errors.append(FieldError(param.name, "number", f"{param.label} must be a number."))
                continue
            if not math.isfinite(number) or abs(number) > 1e12:  # NaN and ∞ cannot be stored or counted to
                errors.append(FieldError(param.name, "finite", f"{param.label} must be a finite number."))
                continue
            filters[param.name] = number
        elif param.kind == "choice" and value and value not in dict(param.choices):
            errors.append(FieldError(param.name, "choice", f"{param.label}: choose one of the listed values."))
        else:
            filters[param.name] = value or param.default
    if not errors:
        errors.extend(source.validate_extra(filters))
    if errors:
        raise ValidationError(errors)
    return {"metric": metric, "filters": filters}


def _table_exists(name: str) -> bool:
    return db.session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})


def _require(*tables: str) -> None:
    missing = [t for t in tables if not _table_exists(t)]
    if missing:
        raise SourceError(f"This tenant has no {', '.join(missing)} table yet; nothing to read.")


def _between(window: Window) -> dict[str, Any]:
    return {"start": window.period_start, "end": window.period_end}


# --- companies ------------------------------------------------------------------------------------------------------

# Incorporations are companies whose date of creation (their incorporation date, a calendar date) falls
# in the segment's days, not rows added to Strata; status changes are updates recorded in the segment.
_COMPANIES_SQL = text("""
    SELECT (SELECT count(*) FROM companies WHERE date_of_creation BETWEEN :first AND :last) AS incorporations,
           (SELECT count(*) FROM companies WHERE updated_at >= :start AND updated_at < :end
                                             AND updated_at > created_at + interval '1 second') AS status_changes""")


def _companies(params: dict, window: Window) -> dict[str, float]:
    row = db.session.execute(_COMPANIES_SQL, {**_between(window), "first": window.start, "last": window.end}).one()
    metric = params["metric"]
    series = {"Incorporations": row.incorporations, "Status changes": row.status_changes}
    if metric == "incorporations":
        return {"Incorporations": row.incorporations}
    if metric == "status_changes":
        return {"Status changes": row.status_changes}
    return series


register(Source(
    "companies", "Companies", "Companies incorporated (by their date of creation) and changed (status changes) "
    "per segment.",
    (("both", "Incorporations and status changes"), ("incorporations", "Incorporations"),
     ("status_changes", "Status changes")),
    (), _companies))


# --- stream events --------------------------------------------------------------------------------------------------

_EVENTS_SQL = text("""
    SELECT event_type, count(*) AS n FROM stream_events_log
    WHERE received_at >= :start AND received_at < :end AND (:event_type = '' OR event_type = :event_type)
    GROUP BY event_type ORDER BY event_type""")


def _stream_events(params: dict, window: Window) -> dict[str, float]:
    _require("stream_events_log")
    rows = db.session.execute(_EVENTS_SQL, {**_between(window), "event_type": params["filters"].get("event_type", "")})
    return {row.event_type: row.n for row in rows}


register(Source(
    "stream_events", "Stream events", "Companies House stream events received, counted by event type.",
    (("count", "Events by type"),),
    (Param("event_type", "Only this event type", help="Leave empty for every type."),),
    _stream_events))


# --- things ---------------------------------------------------------------------------------------------------------

_THINGS_SQL = text("""
    SELECT c.name, count(*) AS n FROM things t JOIN thing_classes c ON c.id = t.thing_class_id
    WHERE t.created_at >= :start AND t.created_at < :end AND NOT t.is_deleted
      AND (:class_name = '' OR c.name = :class_name)
      -- every member sees report results: only classes every role may read are counted
      AND (NOT coalesce(c.permissions, '{}'::jsonb) ? 'read' OR c.permissions -> 'read' ? 'viewer')
    GROUP BY c.name ORDER BY c.name""")


def _things(params: dict, window: Window) -> dict[str, float]:
    _require("things", "thing_classes")
    rows = db.session.execute(_THINGS_SQL, {**_between(window), "class_name": params["filters"].get("class_name", "")})
    return {row.name: row.n for row in rows}


register(Source(
    "things", "Things", "Things created, counted per thing class.",
    (("created", "Things created per class"),),
    (Param("class_name", "Only this thing class", help="Leave empty for every class."),),
    _things))


# --- business objects -----------------------------------------------------------------------------------------------

_OBJECT_TABLES = (("companies", "Companies"), ("partners", "Partners"), ("products", "Products"))
_OBJECT_SQL = {
    (table, metric): text(
        f"SELECT count(*) FROM {table} WHERE {column} >= :start AND {column} < :end"  # noqa: S608 (fixed names)
        + (" AND updated_at > created_at + interval '1 second'" if metric == "updated" else ""))
    for table, _ in _OBJECT_TABLES for metric, column in (("created", "created_at"), ("updated", "updated_at"))
}


def _business_objects(params: dict, window: Window) -> dict[str, float]:
    only = params["filters"].get("entity", "")
    return {label: db.session.scalar(_OBJECT_SQL[table, params["metric"]], _between(window))
            for table, label in _OBJECT_TABLES if only in ("", table)}


register(Source(
    "business_objects", "Business objects", "Companies, partners and products created or updated.",
    (("created", "Created"), ("updated", "Updated")),
    (Param("entity", "Only", kind="choice", choices=(("", "All three"), *_OBJECT_TABLES)),),
    _business_objects))


# --- HTTP JSON ------------------------------------------------------------------------------------------------------

def _http_errors(filters: dict) -> list[FieldError]:
    errors = []
    url = str(filters.get("url_template", ""))
    if not url.startswith(("http://", "https://")):
        errors.append(FieldError("url_template", "url", "URL template must start with http:// or https://."))
    else:
        try:
            url.format(start="2000-01-01", end="2000-01-07")
        except (KeyError, IndexError, ValueError):
            errors.append(FieldError("url_template", "template",
                                     "URL template may only use the placeholders {start} and {end}."))
        else:
            try:
                outbound.check_url(url.format(start="2000-01-01", end="2000-01-07"), "url_template")
            except ValidationError as exc:
                errors.extend(exc.errors)
    if not 0.5 <= float(filters.get("timeout", 10)) <= 120:
        errors.append(FieldError("timeout", "range", "Timeout must be between 0.5 and 120 seconds."))
    return errors


def series_from_json(payload: Any) -> dict[str, float]:
    """Return a series from a number, an object of numbers or a list of {key|name, value|count}."""
    if isinstance(payload, bool):
        raise SourceError("The response is a boolean, not a number.")
    if isinstance(payload, int | float):
        return {"value": payload}
    if isinstance(payload, dict) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                         for v in payload.values()):
        return dict(payload)
    if isinstance(payload, list):
        try:
            return {str(i.get("key", i.get("name"))): float(i.get("value", i.get("count"))) for i in payload}
        except (AttributeError, TypeError, ValueError):
            pass
    raise SourceError("The response must be a number, an object of numbers or a list of {key, value}.")


def _http_json(params: dict, window: Window) -> dict[str, float]:
    """Fetch the segment's URL once per attempt; retrying is the report's retry policy."""
    filters = params["filters"]
    url = filters["url_template"].format(start=window.start.isoformat(), end=window.end.isoformat())
    try:  # address checks on every hop; one message for every failure, so no port state shows
        response = outbound.fetch(url, timeout=window.remaining(float(filters.get("timeout", 10))))
    except outbound.OutboundError as exc:
        raise SourceError(str(exc), status=exc.status, retry_after=exc.retry_after, retryable=exc.retryable) from exc
    try:
        return series_from_json(response.json())
    except ValueError as exc:
        raise SourceError(f"The response from {url} is not JSON.", retryable=False) from exc


register(Source(
    "http_json", "HTTP JSON", "A JSON endpoint fetched once per segment; {start} and {end} are ISO dates.",
    (("value", "Value returned"),),
    (Param("url_template", "URL template", kind="url", default="",
           help="For example https://example.com/stats?from={start}&to={end}"),
     Param("timeout", "Timeout (seconds)", kind="number", default=10)),
    _http_json, seconds_per_segment=0.5, validate_extra=_http_errors))


# --- synthetic ------------------------------------------------------------------------------------------------------

def _synthetic_errors(filters: dict) -> list[FieldError]:
    errors = []
    if not 0 <= float(filters.get("seconds", 0)) <= 60:
        errors.append(FieldError("seconds", "range", "Seconds per segment must be between 0 and 60."))
    status = float(filters.get("fail_status") or 0)
    if status and (status % 1 or not 400 <= status <= 599):
        errors.append(FieldError("fail_status", "range", "HTTP status must be 0 or a whole number from 400 to 599."))
    if not 0 <= float(filters.get("retry_after") or 0) <= 3600:
        errors.append(FieldError("retry_after", "range", "Retry-After must be between 0 and 3600 seconds."))
    for part in filter(None, (p.strip() for p in str(filters.get("fail_dates", "")).split(","))):
        try:
            date.fromisoformat(part)
        except ValueError:
            errors.append(FieldError("fail_dates", "date", f"{part!r} is not a date (YYYY-MM-DD)."))
    return errors


def _synthetic(params: dict, window: Window) -> dict[str, float]:
    filters = params["filters"]
    seconds = float(filters.get("seconds", 0))
    time.sleep(window.remaining(seconds))
    if window.deadline is not None and time.monotonic() >= window.deadline:
        raise SegmentTimeout(None)
    failing = {p.strip() for p in str(filters.get("fail_dates", "")).split(",") if p.strip()}
    recover_after = int(float(filters.get("recover_after") or 0))
    if window.start.isoformat() in failing and (recover_after == 0 or window.attempt <= recover_after):
        status = int(float(filters.get("fail_status") or 0)) or None
        raise SourceError(f"synthetic failure for the segment starting {window.start} (attempt {window.attempt})"
                          + (f": HTTP {status}" if status else ""), status=status,
                          retry_after=float(filters["retry_after"]) if filters.get("retry_after") else None)
    return {"days": (window.end - window.start).days + 1}


register(Source(
    "synthetic", "Synthetic load", "A stand-in source for trying the engine: waits, then counts the days.",
    (("days", "Days per segment"),),
    (Param("seconds", "Seconds per segment", kind="number", default=0),
     Param("fail_dates", "Fail segments starting on", help="Comma-separated dates, YYYY-MM-DD."),
     Param("recover_after", "Failing segments succeed after this many attempts", kind="number", default=0,
           help="0: they always fail."),
     Param("fail_status", "Failing segments answer this HTTP status", kind="number", default=0,
           help="0: a plain error; 404 is not retried, 429 and 5xx are."),
     Param("retry_after", "…with Retry-After (seconds)", kind="number", default=0)),
    _synthetic, seconds_per_segment=0.01, validate_extra=_synthetic_errors))
