"""The streaming API's wire format: reassembling lines from chunks and reading one line into an event row.

A body is newline-delimited JSON whose chunks do not follow line boundaries; a bare newline is a
heartbeat. Each event line becomes an `EventRow` ready to be written to `stream_events_log`; a line
that is not a valid event becomes a failed row (event type `malformed`) so it is recorded and skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

MAX_LINE_BYTES = 4 * 1024 * 1024


class LineAssembler:
    """Turn byte chunks into complete lines; a partial line stays buffered until its newline arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the complete lines (without newline, heartbeats included as b"") that `chunk` completes."""
        self._buffer += chunk
        end = self._buffer.rfind(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_LINE_BYTES:
                line, self._buffer = bytes(self._buffer), bytearray()
                return [line]  # an endless line: hand it on so it is recorded as malformed
            return []
        lines = bytes(self._buffer[:end]).split(b"\n")
        del self._buffer[: end + 1]
        return lines

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line (dropped at a disconnect: it is replayed after resuming)."""
        return len(self._buffer)


@dataclass
class EventRow:
    """One received line as it is logged, plus what it applies: company values (company-profile) or a resource."""

    event_id: str
    timepoint: int | None
    resource_kind: str | None
    event_type: str
    company_number: str | None
    event_json: str
    published_at: datetime | None
    status: str = "processed"
    error: str | None = None
    profile: dict[str, Any] | None = None
    resource_id: str | None = None  # the resource's own key (filing, appointment, PSC, charge…)
    table: str | None = None  # the tenant table the resource lands in
    has_data: bool = False  # the event carries the resource's data (a delete may not)
    fragment: str | None = None  # the row as the log insert's JSON object (see log_fragment)

    @property
    def deleted(self) -> bool:
        return self.event_type == "deleted"


def json_default(value: Any) -> str:
    """`json.dumps` default: dates and date-times as ISO 8601."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def log_fragment(row: EventRow) -> str:
    """Return (and keep) the row as a JSON object for the log insert, the event's own JSON spliced in as `d`."""
    if row.fragment is None:
        meta = json.dumps({"i": row.event_id, "t": row.timepoint, "k": row.resource_kind, "y": row.event_type,
                           "n": row.company_number, "p": row.published_at, "s": row.status, "e": row.error},
                          default=json_default)
        row.fragment = f'{meta[:-1]},"d":{row.event_json}}}'
    return row.fragment


class EventError(ValueError):
    """A line is not a usable event; the message names the field and what is wrong."""


def _date(data: dict, name: str) -> date | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        if not isinstance(raw, str) or len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise EventError(f"data.{name}: {raw!r} is not a date (YYYY-MM-DD)") from exc


def _text(data: dict, name: str, limit: int) -> str | None:
    raw = data.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise EventError(f"data.{name}: must be a string")
    if len(raw) > limit:
        raise EventError(f"data.{name}: longer than {limit} characters")
    return raw


def _json(data: dict, name: str, kind: type) -> Any:
    raw = data.get(name)
    if raw is not None and not isinstance(raw, kind):
        raise EventError(f"data.{name}: must be {'a list' if kind is list else 'an object'}")
    return raw


def profile_values(data: dict) -> dict[str, Any]:
    """Return the `companies` columns a company-profile's `data` sets; raise EventError for a bad value."""
    name = _text(data, "company_name", 200)
    if not name:
        raise EventError("data.company_name: required")
    return {
        "name": name,
        "company_status": _text(data, "company_status", 50),
        "company_type": _text(data, "type", 80),
        "jurisdiction": _text(data, "jurisdiction", 50),
        "date_of_creation": _date(data, "date_of_creation"),
        "date_of_cessation": _date(data, "date_of_cessation"),
        "registered_office_address": _json(data, "registered_office_address", dict),
        "sic_codes": _json(data, "sic_codes", list),
        "accounts": _json(data, "accounts", dict),
        "etag": _text(data, "etag", 80),
    }


def _published(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        published = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise EventError(f"event.published_at: {raw!r} is not a date-time") from exc
    if published.tzinfo is not None:  # the register publishes UTC; an offset is converted, not dropped
        published = published.astimezone(UTC)
    return published.replace(tzinfo=None)


def _company_number(doc: dict) -> str | None:
    """Return a company-profile event's company number: `data.company_number`, else `resource_id`."""
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    number = data.get("company_number") or doc.get("resource_id")
    if number is None and isinstance(doc.get("resource_uri"), str) and doc["resource_uri"].startswith("/company/"):
        number = doc["resource_uri"].split("/")[2]
    if number is not None and (not isinstance(number, str) or not 1 <= len(number) <= 20):
        raise EventError("data.company_number: must be a string of 1 to 20 characters")
    return number


_COMPANY_URI = re.compile(r"/company/([A-Za-z0-9]{1,20})(?:/|$)")


def uri_company_number(doc: dict) -> str | None:
    """Return the company number of a resource event, read from `resource_uri` (`/company/<number>/…`).

    Disqualified officers are keyed on the officer (`/disqualified-officers/<kind>/<id>`): a corporate
    one carries its own registration number as `data.company_number`; a natural one has no company.
    """
    uri = doc.get("resource_uri")
    if not isinstance(uri, str) or len(uri) > 500:
        raise EventError("resource_uri: required, a path of at most 500 characters")
    if uri.startswith("/disqualified-officers/"):
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        number = data.get("company_number")
        if number is None:
            return None
        if not isinstance(number, str) or not _NUMBER.fullmatch(number):
            raise EventError("data.company_number: must be 1 to 20 letters and digits")
        return number.upper()
    match = _COMPANY_URI.match(uri)
    if match is None:
        raise EventError(f"resource_uri: {uri[:80]!r} does not name a company (/company/<number>/…)")
    return match.group(1).upper()


_NUMBER = re.compile(r"[A-Za-z0-9]{1,20}")


def malformed_row(line: bytes, after_timepoint: int | None, error: str) -> EventRow:
    """Return the failed row recording an unreadable line (its id is stable, so a replay does not double it)."""
    digest = hashlib.sha1(line).hexdigest()[:16]
    text = line[:20000].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return EventRow(f"malformed:{after_timepoint or 0}:{digest}", None, None, "malformed", None,
                    json.dumps({"raw": text}), None, "failed", error[:1000])


def _timepoint(event: dict) -> int:
    timepoint = event.get("timepoint")
    if isinstance(timepoint, bool) or not isinstance(timepoint, int) or timepoint <= 0:
        raise EventError("event.timepoint: must be a positive whole number")
    return timepoint


def parse_line(line: bytes, after_timepoint: int | None = None) -> EventRow:
    """Read one non-empty line into an EventRow; unreadable lines give a failed `malformed` row."""
    try:
        text = line.decode("utf-8")
        if "\\u0000" in text:
            raise EventError("the line contains a NUL character, which cannot be stored")
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("event"), dict):
            raise EventError("event: missing; not a stream event")
        event = doc["event"]
        timepoint = _timepoint(event)
    except (UnicodeDecodeError, json.JSONDecodeError, EventError) as exc:
        return malformed_row(line, after_timepoint, f"Malformed line: {exc}")
    kind = doc.get("resource_kind") if isinstance(doc.get("resource_kind"), str) else None
    event_type = event.get("type") if event.get("type") in ("changed", "deleted") else str(event.get("type"))[:40]
    row = EventRow(str(timepoint), timepoint, kind, event_type, None, text, None)
    try:
        row.published_at = _published(event.get("published_at"))
        if kind == "company-profile":
            row.company_number = _company_number(doc)
            apply_profile(row, doc)
        else:
            apply_resource(row, doc)
    except EventError as exc:
        row.status, row.error = "failed", str(exc)
    return row


def _check_type(row: EventRow) -> None:
    if row.event_type not in ("changed", "deleted"):
        raise EventError(f"event.type: {row.event_type!r} is neither 'changed' nor 'deleted'")


def apply_profile(row: EventRow, doc: dict) -> None:
    """Fill `row.profile` from a company-profile event; raise EventError when it cannot be applied."""
    _check_type(row)
    if not row.company_number:
        raise EventError("data.company_number: required")
    data = doc.get("data")
    if row.deleted:
        row.profile = profile_values(data) if isinstance(data, dict) and data.get("company_name") else {}
        return
    if not isinstance(data, dict):
        raise EventError("data: required on a 'changed' event")
    row.profile = profile_values(data)


def apply_resource(row: EventRow, doc: dict) -> None:
    """Fill the resource key, table and company number of a filing, officer, PSC… event; raise EventError."""
    from strata.streams.resources import TABLE_OF_KIND

    if row.resource_kind is None:
        raise EventError("resource_kind: required")
    table = TABLE_OF_KIND.get(row.resource_kind)
    if table is None:
        raise EventError(f"resource_kind: {row.resource_kind[:80]!r} is not a Companies House resource kind")
    _check_type(row)
    resource_id = doc.get("resource_id")
    if not isinstance(resource_id, str) or not 1 <= len(resource_id) <= 200:
        raise EventError("resource_id: must be a string of 1 to 200 characters")
    row.company_number = uri_company_number(doc)
    if not row.deleted and not isinstance(doc.get("data"), dict):
        raise EventError("data: required on a 'changed' event")
    row.resource_id, row.table, row.has_data = resource_id, table, isinstance(doc.get("data"), dict)
