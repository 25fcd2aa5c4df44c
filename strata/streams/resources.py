"""Companies House resources from the eight non-profile streams, one tenant table per kind (migration t0010).

Every table has the same shape: the resource's own key (`resource_id`: a filing's transaction id, an
appointment id, a PSC or charge id, the company number for insolvency and exemptions, the officer id
for disqualifications), the company it belongs to, its latest `data` and the stream position that
wrote it. An event applies only when its timepoint is newer than the row's, so replays and older
events change nothing; a `deleted` event keeps the row as a tombstone (`deleted`, last data kept) so
an older `changed` event replayed later cannot bring it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from psycopg import sql
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB

from strata.db import db
from strata.streams.protocol import EventRow, json_default

PSC_KINDS = (
    "company-psc-individual", "company-psc-corporate", "company-psc-legal", "company-psc-supersecure",
    "company-psc-individual-beneficial-owner", "company-psc-corporate-beneficial-owner",
    "company-psc-legal-beneficial-owner", "company-psc-supersecure-beneficial-owner",
)
# Stream type → the resource kinds its events carry (the PSC and disqualified-officer streams carry several).
STREAM_KINDS: dict[str, tuple[str, ...]] = {
    "company-profile": ("company-profile",),
    "filing-history": ("filing-history",),
    "company-officers": ("company-officers",),
    "company-psc-individual": PSC_KINDS,
    "company-charges": ("company-charges",),
    "company-insolvency": ("company-insolvency",),
    "disqualified-officer-natural": ("disqualified-officer-natural", "disqualified-officer-corporate"),
    "company-exemptions": ("company-exemptions",),
    "company-psc-statement": ("company-psc-statement",),
}
# Resource kind → its tenant table.
TABLE_OF_KIND: dict[str, str] = {
    "filing-history": "company_filings",
    "company-officers": "company_officers",
    **{kind: "company_pscs" for kind in PSC_KINDS},
    "company-psc-statement": "company_psc_statements",
    "company-charges": "company_charges",
    "company-insolvency": "company_insolvency",
    "company-exemptions": "company_exemptions",
    "disqualified-officer-natural": "officer_disqualifications",
    "disqualified-officer-corporate": "officer_disqualifications",
}
TABLES = tuple(dict.fromkeys(TABLE_OF_KIND.values()))


def _table(name: str) -> Table:
    return Table(
        name, db.metadata,
        Column("resource_id", Text, primary_key=True),
        Column("resource_kind", Text, nullable=False),
        Column("company_number", Text),
        Column("data", JSONB),
        Column("deleted", Boolean, nullable=False, server_default="false"),
        Column("stream_timepoint", BigInteger, nullable=False),
        Column("stream_event_id", Text, nullable=False),
        Column("published_at", DateTime),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"idx_{name}_company", "company_number"),
    )


RESOURCE_TABLES: dict[str, Table] = {name: _table(name) for name in TABLES}

# One statement per table, from the fixed names above; the batch travels as one JSON parameter and each
# resource's data is read from the log row just written (parsed once, by PostgreSQL).
_UPSERT_SQL = """
    INSERT INTO {table} AS r (resource_id, resource_kind, company_number, data, deleted, stream_timepoint,
                             stream_event_id, published_at)
    SELECT u.resource_id, u.resource_kind, u.company_number, NULLIF(l.event_data->'data', 'null'::jsonb),
           u.event_type = 'deleted', u.timepoint, u.event_id, u.published_at
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(resource_id text, resource_kind text, company_number text, event_type text, timepoint bigint,
              event_id text, published_at timestamp, src text)
    LEFT JOIN stream_events_log l ON l.stream_id = :stream_id AND l.event_id = u.src
    WHERE :track_all OR u.company_number IS NULL
       OR EXISTS (SELECT 1 FROM companies c WHERE c.company_number = u.company_number)
    ON CONFLICT (resource_id) DO UPDATE SET
        resource_kind = EXCLUDED.resource_kind, company_number = EXCLUDED.company_number,
        data = COALESCE(EXCLUDED.data, r.data), deleted = EXCLUDED.deleted,
        stream_timepoint = EXCLUDED.stream_timepoint, stream_event_id = EXCLUDED.stream_event_id,
        published_at = EXCLUDED.published_at, updated_at = now()
    WHERE r.stream_timepoint < EXCLUDED.stream_timepoint"""
_UPSERT = {name: text(_UPSERT_SQL.replace("{table}", sql.Identifier(name).as_string(None))) for name in TABLES}


def latest_per_resource(rows: Iterable[EventRow]) -> dict[str, list[tuple[EventRow, str | None]]]:
    """Return, by table, each resource's newest processed event of `rows` and the event whose data it keeps.

    One statement may touch a row only once, hence one event per resource; a data-less delete keeps the
    data of a change seen before it in the same batch.
    """
    latest: dict[tuple[str, str], tuple[EventRow, str | None]] = {}
    for row in sorted((r for r in rows if r.table and r.status == "processed" and r.timepoint is not None),
                      key=lambda r: r.timepoint):
        seen = latest.get((row.table, row.resource_id))
        source = row.event_id if row.has_data else (seen[1] if seen is not None else None)
        latest[(row.table, row.resource_id)] = (row, source)
    by_table: dict[str, list[tuple[EventRow, str | None]]] = {}
    for (table, _), pair in latest.items():
        by_table.setdefault(table, []).append(pair)
    return by_table


def apply_resources(stream_id: int, rows: list[EventRow], track_all: bool) -> None:
    """Upsert the resources `rows` carry (rows already logged); only known companies' unless tracking all."""
    for table, latest in latest_per_resource(rows).items():
        payload = json.dumps([{"resource_id": r.resource_id, "resource_kind": r.resource_kind,
                               "company_number": r.company_number, "event_type": r.event_type,
                               "timepoint": r.timepoint, "event_id": r.event_id, "published_at": r.published_at,
                               "src": source} for r, source in latest], default=json_default)
        db.session.execute(_UPSERT[table], {"rows": payload, "stream_id": stream_id, "track_all": track_all})


# --- reading: the company page ------------------------------------------------------------------------------

# What the company page lists, newest first: (table, heading, the ISO date in `data` it is ordered by).
COMPANY_SECTIONS = (
    ("company_officers", "Officers", "appointed_on"),
    ("company_filings", "Filings", "date"),
    ("company_pscs", "Persons with significant control", "notified_on"),
    ("company_charges", "Charges", "created_on"),
)


def for_company(table: str, company_number: str | None, limit: int = 50) -> list[dict]:
    """Return the live (not deleted) resources of one company in `table`, newest first, as plain dicts."""
    if not company_number:
        return []
    key = dict((name, key) for name, _, key in COMPANY_SECTIONS).get(table)
    t = RESOURCE_TABLES[table]
    order = [t.c.data[key].astext.desc().nulls_last()] if key else []
    query = (select(t.c.resource_id, t.c.resource_kind, t.c.data, t.c.stream_timepoint, t.c.published_at)
             .where(t.c.company_number == company_number, t.c.deleted.is_(False))
             .order_by(*order, t.c.stream_timepoint.desc()).limit(limit))
    return [dict(r._mapping) for r in db.session.execute(query)]


def company_resources(company_number: str | None) -> list[tuple[str, str, list[dict]]]:
    """Return the company page's sections: (table, heading, rows) for officers, filings, PSCs and charges."""
    return [(table, heading, for_company(table, company_number)) for table, heading, _ in COMPANY_SECTIONS]
