"""The data sources a report can read: each validates its parameters and computes one segment.

A source's `compute(params, window)` runs inside the tenant's transaction and returns a series:
a mapping of label → number for that segment (for example event type → count). Computing a
segment again returns the same series, so re-running a segment replaces its data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy import text

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
    """A segment could not be computed; the message is shown on the segment."""


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
                filters[param.name] = float(value) if value else float(param.default or 0)
            except ValueError:
                errors.append(FieldError(param.name, "number", f"{param.label} must be a number."))
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

_COMPANIES_SQL = text("""
    SELECT count(*) FILTER (WHERE created_at >= :start AND created_at < :end) AS incorporations,
           count(*) FILTER (WHERE updated_at >= :start AND updated_at < :end
                            AND updated_at > created_at + interval '1 second') AS status_changes
    FROM companies
    WHERE (created_at >= :start AND created_at < :end) OR (updated_at >= :start AND updated_at < :end)""")


def _companies(params: dict, window: Window) -> dict[str, float]:
    row = db.session.execute(_COMPANIES_SQL, _between(window)).one()
    metric = params["metric"]
    series = {"Incorporations": row.incorporations, "Status changes": row.status_changes}
    if metric == "incorporations":
        return {"Incorporations": row.incorporations}
    if metric == "status_changes":
        return {"Status changes": row.status_changes}
    return series


register(Source(
    "companies", "Companies", "Companies added (incorporations) and changed (status changes) per segment.",
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
    if not 0.5 <= float(filters.get("timeout", 10)) <= 120:
        errors.append(FieldError("timeout", "range", "Timeout must be between 0.5 and 120 seconds."))
    if not 0 <= float(filters.get("retries", 2)) <= 5 or float(filters.get("retries", 2)) % 1:
        errors.append(FieldError("retries", "range", "Retries must be a whole number from 0 to 5."))
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
    filters = params["filters"]
    url = filters["url_template"].format(start=window.start.isoformat(), end=window.end.isoformat())
    retries, last = int(filters.get("retries", 2)), None
    for attempt in range(retries + 1):
        try:
            response = httpx.get(url, timeout=float(filters.get("timeout", 10)), follow_redirects=True)
            if response.status_code < 500:
                response.raise_for_status()
                return series_from_json(response.json())
            last = f"HTTP {response.status_code} from {url}"
        except httpx.HTTPStatusError as exc:
            raise SourceError(f"HTTP {exc.response.status_code} from {url}") from exc
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__} fetching {url}"
        except ValueError as exc:
            raise SourceError(f"The response from {url} is not JSON.") from exc
        time.sleep(min(0.5 * 2 ** attempt, 5))
    raise SourceError(last or f"no answer from {url}")


register(Source(
    "http_json", "HTTP JSON", "A JSON endpoint fetched once per segment; {start} and {end} are ISO dates.",
    (("value", "Value returned"),),
    (Param("url_template", "URL template", kind="url", default="",
           help="For example https://example.com/stats?from={start}&to={end}"),
     Param("timeout", "Timeout (seconds)", kind="number", default=10),
     Param("retries", "Retries", kind="number", default=2)),
    _http_json, seconds_per_segment=0.5, validate_extra=_http_errors))


# --- synthetic ------------------------------------------------------------------------------------------------------

def _synthetic_errors(filters: dict) -> list[FieldError]:
    errors = []
    if not 0 <= float(filters.get("seconds", 0)) <= 60:
        errors.append(FieldError("seconds", "range", "Seconds per segment must be between 0 and 60."))
    for part in filter(None, (p.strip() for p in str(filters.get("fail_dates", "")).split(","))):
        try:
            date.fromisoformat(part)
        except ValueError:
            errors.append(FieldError("fail_dates", "date", f"{part!r} is not a date (YYYY-MM-DD)."))
    return errors


def _synthetic(params: dict, window: Window) -> dict[str, float]:
    filters = params["filters"]
    time.sleep(float(filters.get("seconds", 0)))
    failing = {p.strip() for p in str(filters.get("fail_dates", "")).split(",") if p.strip()}
    recover_after = int(float(filters.get("recover_after") or 0))
    if window.start.isoformat() in failing and (recover_after == 0 or window.attempt <= recover_after):
        raise SourceError(f"synthetic failure for the segment starting {window.start} (attempt {window.attempt})")
    return {"days": (window.end - window.start).days + 1}


register(Source(
    "synthetic", "Synthetic load", "A stand-in source for trying the engine: waits, then counts the days.",
    (("days", "Days per segment"),),
    (Param("seconds", "Seconds per segment", kind="number", default=0),
     Param("fail_dates", "Fail segments starting on", help="Comma-separated dates, YYYY-MM-DD."),
     Param("recover_after", "Failing segments succeed after this many attempts", kind="number", default=0,
           help="0: they always fail.")),
    _synthetic, seconds_per_segment=0.01, validate_extra=_synthetic_errors))
