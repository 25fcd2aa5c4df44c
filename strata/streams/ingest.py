"""Writing received events: the log rows, the company and resource upserts and the checkpoint, in one transaction.

A batch is written with three set-based statements over the batch passed as one JSON parameter:
the log insert skips event ids already logged (replays and duplicates), the company update applies
only an event newer than the company's `stream_timepoint`, and the checkpoint moves forward only.
Because all three commit together, a crash at any moment leaves the log, the companies and the
checkpoint agreeing, and resuming at checkpoint + 1 neither loses nor doubles an event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text

from strata.db import db
from strata.streams.protocol import EventRow, json_default, log_fragment
from strata.streams.resources import apply_resources

PROFILE_COLUMNS = ("name", "company_status", "company_type", "jurisdiction", "date_of_creation",
                   "date_of_cessation", "registered_office_address", "sic_codes", "accounts", "etag")

_LOCK = text("SELECT track_all FROM stream_metadata WHERE id = :id FOR UPDATE")
_ASYNC_COMMIT = text("SELECT set_config('synchronous_commit', 'off', true)")

# A batch travels as one JSON array parameter, read by json_to_recordset: no per-value escaping on
# either side, and each event's own JSON is embedded as a value, so it is parsed once, by PostgreSQL.
_INSERT_LOG = text("""
    INSERT INTO stream_events_log (stream_id, event_id, timepoint, resource_kind, event_type, company_number,
                                   event_data, published_at, processing_status, error_message, received_at,
                                   processed_at)
    SELECT :stream_id, u.i, u.t, u.k, u.y, u.n, u.d, u.p, u.s, u.e, now(), CASE WHEN u.s <> 'pending' THEN now() END
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(i text, t bigint, k text, y text, n text, d jsonb, p timestamp, s text, e text)
    ON CONFLICT (stream_id, event_id) DO NOTHING
    RETURNING event_id""")

_CHECKPOINT = text("""
    UPDATE stream_metadata SET
        last_timepoint = GREATEST(COALESCE(last_timepoint, 0), :timepoint),
        last_event_id = CASE WHEN COALESCE(last_timepoint, 0) < :timepoint THEN :event_id ELSE last_event_id END,
        last_published_at = CASE WHEN COALESCE(last_timepoint, 0) < :timepoint THEN CAST(:published_at AS timestamp)
                                 ELSE last_published_at END,
        last_processed_timestamp = now(), last_event_at = now(), connection_status = 'connected',
        updated_at = now()
    WHERE id = :id""")

_TOUCH = text("UPDATE stream_metadata SET last_event_at = now(), updated_at = now() WHERE id = :id")

# Company values are read from the log rows just written (their jsonb is parsed once, by PostgreSQL):
# Python sends only which event is each company's newest (`event_id`) and whose data it carries (`src`).
_PROFILE_SQL = {
    "name": "d->>'company_name'", "company_status": "d->>'company_status'", "company_type": "d->>'type'",
    "jurisdiction": "d->>'jurisdiction'", "date_of_creation": "NULLIF(d->>'date_of_creation', '')::date",
    "date_of_cessation": "NULLIF(d->>'date_of_cessation', '')::date",
    "registered_office_address": "NULLIF(d->'registered_office_address', 'null'::jsonb)",
    "sic_codes": "NULLIF(d->'sic_codes', 'null'::jsonb)", "accounts": "NULLIF(d->'accounts', 'null'::jsonb)",
    "etag": "d->>'etag'",
}
_SOURCE = f"""(
    SELECT u.company_number, u.timepoint, u.event_id, u.event_type, u.published_at, u.src IS NOT NULL AS has_profile,
           {", ".join(f"{expr} AS {col}" for col, expr in _PROFILE_SQL.items())}
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(company_number text, timepoint bigint, event_id text, event_type text, published_at timestamp, src text)
    LEFT JOIN stream_events_log l ON l.stream_id = :stream_id AND l.event_id = u.src
    CROSS JOIN LATERAL (SELECT l.event_data->'data' AS d) AS x) AS u"""  # noqa: S608

_STREAM_SET = """stream_timepoint = u.timepoint, stream_event_id = u.event_id, stream_event_type = u.event_type,
        stream_processing_status = 'processed', stream_last_updated = now(), stream_published_at = u.published_at"""

# Static SQL assembled from the fixed column list above; every value travels as a parameter.
_UPDATE_COMPANIES = text(f"""
    UPDATE companies AS c SET {", ".join(
        f"{col} = CASE WHEN u.has_profile THEN u.{col} ELSE c.{col} END"
        for col in PROFILE_COLUMNS if col != "company_status")},
        company_status = CASE WHEN u.event_type = 'deleted' THEN 'removed'
                              WHEN u.has_profile THEN u.company_status ELSE c.company_status END,
        {_STREAM_SET}, updated_at = now()
    FROM {_SOURCE}
    WHERE c.company_number = u.company_number
      AND (c.stream_timepoint IS NULL OR c.stream_timepoint < u.timepoint)""")  # noqa: S608

_INSERT_COMPANIES = text(f"""
    INSERT INTO companies (company_number, {", ".join(PROFILE_COLUMNS)}, stream_timepoint, stream_event_id,
                           stream_event_type, stream_processing_status, stream_last_updated, stream_published_at)
    SELECT u.company_number, {", ".join(
        "CASE WHEN u.event_type = 'deleted' THEN 'removed' ELSE u.company_status END" if c == "company_status"
        else f"u.{c}" for c in PROFILE_COLUMNS)},
           u.timepoint, u.event_id, u.event_type, 'processed', now(), u.published_at
    FROM {_SOURCE}
    WHERE u.has_profile AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.company_number = u.company_number)
    ON CONFLICT (company_number) DO NOTHING""")  # noqa: S608


@dataclass
class BatchResult:
    """What a batch wrote: new log rows and the highest timepoint in it."""

    logged: int
    timepoint: int | None


def _log_rows(rows: list[EventRow]) -> str:
    """Return the batch as one JSON array; each event's JSON is spliced in as it arrived (already valid)."""
    return "[" + ",".join(log_fragment(r) for r in rows) + "]"


def latest_per_company(rows: Iterable[EventRow]) -> list[tuple[EventRow, str | None]]:
    """Return each company's newest applicable event and the event whose data it takes (None: no data).

    A data-less delete keeps the profile of a change seen before it in the same batch.
    """
    latest: dict[str, tuple[EventRow, str | None]] = {}
    for row in rows:
        if row.profile is None or row.status != "processed" or row.timepoint is None:
            continue
        seen = latest.get(row.company_number)
        if seen is not None and seen[0].timepoint >= row.timepoint:
            continue
        source = row.event_id if row.profile else (seen[1] if seen is not None else None)
        latest[row.company_number] = (row, source)
    return list(latest.values())


def _profile_rows(latest: list[tuple[EventRow, str | None]]) -> str:
    return json.dumps([{"company_number": r.company_number, "timepoint": r.timepoint, "event_id": r.event_id,
                        "event_type": r.event_type, "published_at": r.published_at, "src": source}
                       for r, source in latest], default=json_default)


def apply_companies(stream_id: int, rows: list[EventRow], track_all: bool) -> None:
    """Apply logged company-profile events to `companies`: newer events only; unknown ones when tracking all."""
    latest = latest_per_company(rows)
    if not latest:
        return
    params = {"rows": _profile_rows(latest), "stream_id": stream_id}
    db.session.execute(_UPDATE_COMPANIES, params)
    if track_all:
        db.session.execute(_INSERT_COMPANIES, params)


def write_batch(stream_id: int, rows: list[EventRow]) -> BatchResult:
    """Log `rows`, apply the new ones to companies and move the checkpoint, then commit (all or nothing)."""
    track_all = db.session.execute(_LOCK, {"id": stream_id}).scalar_one()
    # Safe to skip the wait for the WAL flush: rows and checkpoint are lost (and re-fetched) together.
    db.session.execute(_ASYNC_COMMIT)
    new_ids = set(db.session.execute(_INSERT_LOG, {"stream_id": stream_id, "rows": _log_rows(rows)}).scalars())
    fresh = [r for r in rows if r.event_id in new_ids]
    apply_companies(stream_id, fresh, track_all)
    apply_resources(stream_id, fresh, track_all)
    last = max((r for r in rows if r.timepoint is not None), key=lambda r: r.timepoint, default=None)
    if last is not None:
        db.session.execute(_CHECKPOINT, {"id": stream_id, "timepoint": last.timepoint, "event_id": last.event_id,
                                         "published_at": last.published_at})
    else:
        db.session.execute(_TOUCH, {"id": stream_id})
    db.session.commit()
    return BatchResult(len(new_ids), last.timepoint if last else None)
