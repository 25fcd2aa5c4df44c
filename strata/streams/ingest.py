"""Writing received events: the log rows, the company upserts and the checkpoint, in one transaction.

A batch is written with three set-based statements (`unnest` over arrays passed as parameters):
the log insert skips event ids already logged (replays and duplicates), the company update applies
only an event newer than the company's `stream_timepoint`, and the checkpoint moves forward only.
Because all three commit together, a crash at any moment leaves the log, the companies and the
checkpoint agreeing, and resuming at checkpoint + 1 neither loses nor doubles an event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text

from strata.db import db
from strata.streams.protocol import EventRow

PROFILE_COLUMNS = ("name", "company_status", "company_type", "jurisdiction", "date_of_creation",
                   "date_of_cessation", "registered_office_address", "sic_codes", "accounts", "etag")
_CASTS = {"date_of_creation": "date", "date_of_cessation": "date", "registered_office_address": "jsonb",
          "sic_codes": "jsonb", "accounts": "jsonb"}

_LOCK = text("SELECT track_all FROM stream_metadata WHERE id = :id FOR UPDATE")

_INSERT_LOG = text("""
    INSERT INTO stream_events_log (stream_id, event_id, timepoint, resource_kind, event_type, company_number,
                                   event_data, published_at, processing_status, error_message, received_at,
                                   processed_at)
    SELECT :stream_id, u.event_id, u.timepoint, u.kind, u.event_type, u.company_number, u.data::jsonb,
           u.published_at, u.status, u.error, now(), CASE WHEN u.status <> 'pending' THEN now() END
    FROM unnest(CAST(:event_id AS text[]), CAST(:timepoint AS bigint[]), CAST(:kind AS text[]),
                CAST(:event_type AS text[]), CAST(:company_number AS text[]), CAST(:data AS text[]),
                CAST(:published_at AS timestamp[]), CAST(:status AS text[]), CAST(:error AS text[]))
         AS u(event_id, timepoint, kind, event_type, company_number, data, published_at, status, error)
    ON CONFLICT (stream_id, event_id) DO NOTHING
    RETURNING event_id""")

_CHECKPOINT = text("""
    UPDATE stream_metadata SET
        last_timepoint = GREATEST(COALESCE(last_timepoint, 0), :timepoint),
        last_event_id = CASE WHEN COALESCE(last_timepoint, 0) < :timepoint THEN :event_id ELSE last_event_id END,
        last_published_at = CASE WHEN COALESCE(last_timepoint, 0) < :timepoint THEN :published_at
                                 ELSE last_published_at END,
        last_processed_timestamp = now(), last_event_at = now(), connection_status = 'connected',
        updated_at = now()
    WHERE id = :id""")

_TOUCH = text("UPDATE stream_metadata SET last_event_at = now(), updated_at = now() WHERE id = :id")


def _unnest_profiles() -> str:
    arrays = ", ".join(f"CAST(:{c} AS text[])" for c in ("company_number", "timepoint", "event_id", "event_type",
                                                           "published_at", "has_profile", *PROFILE_COLUMNS))
    names = ", ".join(("company_number", "timepoint", "event_id", "event_type", "published_at", "has_profile",
                       *PROFILE_COLUMNS))
    return f"unnest({arrays}) AS u({names})"


def _value(column: str) -> str:
    cast = _CASTS.get(column)
    return f"u.{column}::{cast}" if cast else f"u.{column}"


def _status_value() -> str:
    return "CASE WHEN u.event_type = 'deleted' THEN 'removed' ELSE u.company_status END"


_STREAM_SET = """stream_timepoint = u.timepoint::bigint, stream_event_id = u.event_id,
        stream_event_type = u.event_type, stream_processing_status = 'processed', stream_last_updated = now(),
        stream_published_at = u.published_at::timestamp"""

# Static SQL assembled from the fixed column list above; every value travels as a parameter.
_UPDATE_COMPANIES = text(f"""
    UPDATE companies AS c SET {", ".join(
        f"{col} = CASE WHEN u.has_profile::boolean THEN {_value(col)} ELSE c.{col} END"
        for col in PROFILE_COLUMNS if col != "company_status")},
        company_status = CASE WHEN u.event_type = 'deleted' THEN 'removed'
                              WHEN u.has_profile::boolean THEN u.company_status ELSE c.company_status END,
        {_STREAM_SET}, updated_at = now()
    FROM {_unnest_profiles()}
    WHERE c.company_number = u.company_number
      AND (c.stream_timepoint IS NULL OR c.stream_timepoint < u.timepoint::bigint)""")  # noqa: S608

_INSERT_COMPANIES = text(f"""
    INSERT INTO companies (company_number, {", ".join(PROFILE_COLUMNS)}, stream_timepoint, stream_event_id,
                           stream_event_type, stream_processing_status, stream_last_updated, stream_published_at)
    SELECT u.company_number, {", ".join(_status_value() if c == "company_status" else _value(c)
                                        for c in PROFILE_COLUMNS)},
           u.timepoint::bigint, u.event_id, u.event_type, 'processed', now(), u.published_at::timestamp
    FROM {_unnest_profiles()}
    WHERE u.has_profile::boolean
      AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.company_number = u.company_number)
    ON CONFLICT (company_number) DO NOTHING""")  # noqa: S608


@dataclass
class BatchResult:
    """What a batch wrote: new log rows and the highest timepoint in it."""

    logged: int
    timepoint: int | None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _log_params(stream_id: int, rows: list[EventRow]) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "event_id": [r.event_id for r in rows],
        "timepoint": [r.timepoint for r in rows],
        "kind": [r.resource_kind for r in rows],
        "event_type": [r.event_type for r in rows],
        "company_number": [r.company_number for r in rows],
        "data": [r.event_json for r in rows],
        "published_at": [r.published_at for r in rows],
        "status": [r.status for r in rows],
        "error": [r.error for r in rows],
    }


def latest_per_company(rows: Iterable[EventRow]) -> list[EventRow]:
    """Return each company's newest applicable event; a data-less delete keeps the profile seen before it."""
    latest: dict[str, EventRow] = {}
    for row in rows:
        if row.profile is None or row.status != "processed" or row.timepoint is None:
            continue
        seen = latest.get(row.company_number)
        if seen is not None and seen.timepoint >= row.timepoint:
            continue
        if row.deleted and not row.profile and seen is not None and seen.profile:
            row = EventRow(**{**row.__dict__, "profile": seen.profile})
        latest[row.company_number] = row
    return list(latest.values())


def _profile_params(rows: list[EventRow]) -> dict[str, list]:
    params: dict[str, list] = {
        "company_number": [r.company_number for r in rows],
        "timepoint": [str(r.timepoint) for r in rows],
        "event_id": [r.event_id for r in rows],
        "event_type": [r.event_type for r in rows],
        "published_at": [_iso(r.published_at) for r in rows],
        "has_profile": ["true" if r.profile else "false" for r in rows],
    }
    for column in PROFILE_COLUMNS:
        params[column] = [_iso((r.profile or {}).get(column)) for r in rows]
    return params


def apply_companies(rows: list[EventRow], track_all: bool) -> None:
    """Apply company-profile events to `companies`: newer events only; unknown companies when tracking all."""
    latest = latest_per_company(rows)
    if not latest:
        return
    params = _profile_params(latest)
    db.session.execute(_UPDATE_COMPANIES, params)
    if track_all:
        db.session.execute(_INSERT_COMPANIES, params)


def write_batch(stream_id: int, rows: list[EventRow]) -> BatchResult:
    """Log `rows`, apply the new ones to companies and move the checkpoint, then commit (all or nothing)."""
    track_all = db.session.execute(_LOCK, {"id": stream_id}).scalar_one()
    new_ids = set(db.session.execute(_INSERT_LOG, _log_params(stream_id, rows)).scalars())
    fresh = [r for r in rows if r.event_id in new_ids]
    apply_companies(fresh, track_all)
    last = max((r for r in rows if r.timepoint is not None), key=lambda r: r.timepoint, default=None)
    if last is not None:
        db.session.execute(_CHECKPOINT, {"id": stream_id, "timepoint": last.timepoint, "event_id": last.event_id,
                                         "published_at": last.published_at})
    else:
        db.session.execute(_TOUCH, {"id": stream_id})
    db.session.commit()
    return BatchResult(len(new_ids), last.timepoint if last else None)
