"""Configuring streams and acting on them: save, start, stop, resync, retry failed events, read the log.

Functions run inside a tenant scope and leave committing to the caller (`tenant_context` or the view).
The stream key is write-only: it is stored, sent to the API, and never returned to a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from strata import audit
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.streams import status
from strata.streams.models import PROCESSING_STATUSES, STREAM_PATHS, StreamEvent, StreamMetadata
from strata.streams.protocol import parse_line

PAGE_SIZE = 50
STALL_RANGE = (30, 86_400)


@dataclass(frozen=True)
class StreamForm:
    """Parsed settings of a stream as submitted."""

    stream_type: str
    base_url: str
    stream_key: str
    track_all: bool
    stall_after_seconds: int


def list_streams() -> list[StreamMetadata]:
    """Return every stream of the tenant, by type."""
    return list(db.session.scalars(select(StreamMetadata).order_by(StreamMetadata.stream_type)))


def get_stream(stream_id: int) -> StreamMetadata:
    """Return the stream with `stream_id`; raise NotFound."""
    stream = db.session.get(StreamMetadata, stream_id)
    if stream is None:
        raise NotFound(f"no stream {stream_id}")
    return stream


def _whole(raw: str, digits: int) -> int | None:
    """Return `raw` as a whole number of at most `digits` ASCII digits, else None."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= digits else None


def _printable(value: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _url_error(base_url: str) -> FieldError | None:
    parts = urlsplit(base_url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return FieldError("base_url", "url", "Base URL has an invalid port: it must be a number from 1 to 65535.")
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or not _printable(base_url) or " " in base_url):
        return FieldError("base_url", "url",
                          "Base URL must be an http(s) address without query, e.g. https://stream.companieshouse.gov.uk.")
    if len(base_url) > 500:
        return FieldError("base_url", "max_length", "Base URL must be at most 500 characters.")
    return None


def _validate(values: dict[str, Any], creating: bool) -> StreamForm:
    errors: list[FieldError] = []
    stream_type = str(values.get("stream_type") or "").strip()
    if creating and stream_type not in STREAM_PATHS:
        errors.append(FieldError("stream_type", "choice", f"Stream must be one of {', '.join(STREAM_PATHS)}."))
    base_url = str(values.get("base_url") or "").strip()
    if url_error := _url_error(base_url):
        errors.append(url_error)
    key = str(values.get("stream_key") or "").strip()
    if creating and not key:
        errors.append(FieldError("stream_key", "required", "Stream key is required."))
    elif len(key) > 200 or ":" in key or not _printable(key):
        errors.append(FieldError("stream_key", "format",
                                 "Stream key must be at most 200 characters, without ':' or control characters."))
    stall = _whole(str(values.get("stall_after_seconds") or "600").strip(), 6)
    if stall is None or not STALL_RANGE[0] <= stall <= STALL_RANGE[1]:
        errors.append(FieldError("stall_after_seconds", "range",
                                 "Stall alarm must be a whole number of seconds from "
                                 f"{STALL_RANGE[0]} to {STALL_RANGE[1]}."))
    if errors:
        raise ValidationError(errors)
    track_all = str(values.get("track_all") or "").lower() in ("1", "on", "true", "yes")
    return StreamForm(stream_type, base_url.rstrip("/"), key, track_all, stall)


def create_stream(values: dict[str, Any], actor_id: int | None) -> StreamMetadata:
    """Configure a new stream (disabled until started); raise ValidationError naming each bad field."""
    form = _validate(values, creating=True)
    if db.session.scalar(select(StreamMetadata.id).where(StreamMetadata.stream_type == form.stream_type)):
        raise ValidationError.single("stream_type", "unique", f"A {form.stream_type} stream is already configured.")
    stream = StreamMetadata(stream_type=form.stream_type, base_url=form.base_url, stream_key=form.stream_key,
                            track_all=form.track_all, stall_after_seconds=form.stall_after_seconds)
    db.session.add(stream)
    db.session.flush()
    audit.record("stream", stream.id, "create", actor_id, {"base_url": [None, form.base_url]},
                 f"Configured the {form.stream_type} stream")
    return stream


def update_stream(stream_id: int, values: dict[str, Any], actor_id: int | None) -> StreamMetadata:
    """Change a stream's settings; an empty key keeps the stored one. Raise ValidationError or NotFound."""
    stream = get_stream(stream_id)
    form = _validate(values, creating=False)
    changes = {name: [getattr(stream, name), new] for name, new in (
        ("base_url", form.base_url), ("track_all", form.track_all), ("stall_after_seconds", form.stall_after_seconds))
        if getattr(stream, name) != new}
    stream.base_url, stream.track_all = form.base_url, form.track_all
    stream.stall_after_seconds = form.stall_after_seconds
    if form.stream_key:
        stream.stream_key = form.stream_key
        changes["stream_key"] = ["(hidden)", "(changed)"]
    audit.record("stream", stream.id, "update", actor_id, changes, f"Changed the {stream.stream_type} stream")
    return stream


def start(stream_id: int, actor_id: int | None) -> StreamMetadata:
    """Enable the stream so a consumer runs; refuse while a resync is needed."""
    stream = get_stream(stream_id)
    if stream.resync_needed:
        raise ValidationError.single("stream", "resync_needed",
                                     "This stream needs a resync first: its checkpoint is no longer available.")
    stream.enabled = True
    audit.record("stream", stream.id, "update", actor_id, {"enabled": [False, True]},
                 f"Started the {stream.stream_type} stream")
    return stream


def stop(stream_id: int, actor_id: int | None) -> StreamMetadata:
    """Disable the stream; its consumer stops within a few seconds and keeps its checkpoint."""
    stream = get_stream(stream_id)
    stream.enabled = False
    audit.record("stream", stream.id, "update", actor_id, {"enabled": [True, False]},
                 f"Stopped the {stream.stream_type} stream")
    return stream


def resync_from_now(stream_id: int, actor_id: int | None) -> StreamMetadata:
    """Drop the checkpoint and go on from the live head (events in between are skipped, knowingly)."""
    stream = get_stream(stream_id)
    old = stream.last_timepoint
    stream.last_timepoint = stream.last_event_id = None
    stream.resync_needed, stream.enabled = False, True
    stream.last_error, stream.connection_status = None, "disconnected"
    audit.record("stream", stream.id, "update", actor_id, {"last_timepoint": [old, None]},
                 f"Resynced the {stream.stream_type} stream from now (last timepoint was {old})")
    return stream


def retry_event(stream_id: int, event_pk: int) -> StreamEvent:
    """Process one failed event again from its stored JSON; return it with its new status. Raise NotFound."""
    stream = get_stream(stream_id)
    event = db.session.scalar(select(StreamEvent).where(StreamEvent.id == event_pk, StreamEvent.stream_id == stream.id))
    if event is None:
        raise NotFound(f"no event {event_pk}")
    if event.processing_status == "processed":
        return event
    data = event.event_data
    raw = data["raw"] if isinstance(data, dict) and set(data) == {"raw"} else json.dumps(data)
    status.apply_logged(event, parse_line(str(raw).encode()), stream.track_all)
    return event


def retry_failed(stream_id: int) -> tuple[int, int]:
    """Retry every failed event of the stream, oldest first; return (now processed, still failed)."""
    get_stream(stream_id)
    ids = list(db.session.scalars(select(StreamEvent.id).where(
        StreamEvent.stream_id == stream_id, StreamEvent.processing_status == "failed").order_by(StreamEvent.id)))
    fixed = 0
    for event_pk in ids:
        fixed += retry_event(stream_id, event_pk).processing_status == "processed"
    return fixed, len(ids) - fixed


@dataclass(frozen=True)
class EventFilters:
    """Filters of the events log; every one optional."""

    event_type: str = ""
    status: str = ""
    company_number: str = ""


def parse_filters(args: dict[str, str]) -> EventFilters:
    """Return the log filters from query values; raise ValidationError for an unknown status or a bad value."""
    state = str(args.get("status") or "").strip()
    if state and state not in PROCESSING_STATUSES:
        raise ValidationError.single("status", "choice", f"Status must be one of {', '.join(PROCESSING_STATUSES)}.")
    number = str(args.get("company_number") or "").strip().upper()
    if len(number) > 20 or not _printable(number):
        raise ValidationError.single("company_number", "format",
                                     "Company number must be at most 20 characters, without control characters.")
    event_type = str(args.get("event_type") or args.get("type") or "").strip()
    if len(event_type) > 40 or not _printable(event_type):
        raise ValidationError.single("event_type", "format",
                                     "Event type must be at most 40 characters, without control characters.")
    return EventFilters(event_type, state, number)


def parse_page(raw: str | None) -> int:
    """Return the log page number (1 when absent); raise ValidationError unless it is a whole number in range."""
    page = _whole(str(raw or "1").strip(), 6)
    if page is None or page < 1:
        raise ValidationError.single("page", "range", "Page must be a whole number from 1 to 999999.")
    return page


def events(stream_id: int | None, filters: EventFilters, page: int = 1) -> tuple[list[StreamEvent], bool]:
    """Return one page of a stream's events (every stream's with None), newest first, and whether more follow."""
    query = select(StreamEvent)
    if stream_id is not None:
        query = query.where(StreamEvent.stream_id == stream_id)
    if filters.event_type:
        query = query.where(StreamEvent.event_type == filters.event_type)
    if filters.status:
        query = query.where(StreamEvent.processing_status == filters.status)
    if filters.company_number:
        query = query.where(StreamEvent.company_number == filters.company_number)
    rows = list(db.session.scalars(query.order_by(StreamEvent.id.desc())
                                   .offset((max(page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def get_event(stream_id: int, event_pk: int) -> StreamEvent:
    """Return one logged event of the stream; raise NotFound."""
    event = db.session.scalar(select(StreamEvent).where(StreamEvent.id == event_pk, StreamEvent.stream_id == stream_id))
    if event is None:
        raise NotFound(f"no event {event_pk}")
    return event


@dataclass
class Stats:
    """The dashboard's figures for one stream."""

    total: int
    failed: int
    per_minute: list[tuple[str, int]]
    lag_seconds: float | None
    stalled: bool


def is_stalled(stream: StreamMetadata, now: datetime | None = None) -> bool:
    """Return whether a connected stream has had no event for longer than its stall alarm (no query)."""
    now = now or datetime.now(UTC)
    return stream.connection_status == "connected" and (
        (stream.last_event_at is not None
         and (now - stream.last_event_at).total_seconds() > stream.stall_after_seconds)
        # the consumer's alarm also covers a connection that never delivered an event
        or (stream.last_error or "").startswith(status.STALL_ALARM) and (
            stream.last_event_at is None or stream.last_event_at < stream.last_error_at))


@dataclass(frozen=True)
class State:
    """What a stream is doing, as shown: `connected`, `disconnected`, `error`, `stopped`, `not running`, and why."""

    state: str
    reason: str


def state(stream: StreamMetadata, running: bool) -> State:
    """Return the stream's shown state from its row and whether a live consumer holds its lock (the heartbeat)."""
    key_rejected = (stream.last_error or "").startswith(status.KEY_REJECTED)
    if stream.resync_needed:
        return State("error", "resync needed")
    if not stream.enabled:
        return State("stopped", "key rejected" if key_rejected else "stopped by an admin")
    if not running:  # the stored status is the last a consumer wrote; without a heartbeat nobody runs
        return State("not running", "no live consumer: waiting for a streams worker")
    if is_stalled(stream):
        return State("connected", "stalled")
    if stream.connection_status == "error":
        return State("error", "retrying")
    if stream.connection_status == "disconnected":
        return State("disconnected", "reconnecting")
    return State(stream.connection_status, "")


def stats(stream: StreamMetadata, minutes: int = 30) -> Stats:
    """Return event counts, the events-per-minute series of the last `minutes`, lag and the stall alarm."""
    # The total is a counter kept by triggers (read with `stream`); failed events come from a partial index (t0008).
    total = stream.events_logged or 0
    failed = db.session.scalar(select(func.count()).select_from(StreamEvent).where(
        StreamEvent.stream_id == stream.id, StreamEvent.processing_status == "failed"))
    now = datetime.now(UTC)
    since = (now - timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    minute = func.date_trunc("minute", StreamEvent.received_at)
    series = {t.astimezone(UTC).strftime("%H:%M"): n for t, n in db.session.execute(
        select(minute, func.count()).where(StreamEvent.stream_id == stream.id, StreamEvent.received_at >= since)
        .group_by(minute))}
    labels = [(since + timedelta(minutes=i)).strftime("%H:%M") for i in range(minutes)]
    per_minute = [(label, series.get(label, 0)) for label in labels]
    lag = None
    if stream.last_published_at is not None:
        lag = max(0.0, (now.replace(tzinfo=None) - stream.last_published_at).total_seconds())
    return Stats(total, failed, per_minute, lag, is_stalled(stream, now))


def company_history(company_number: str | None, limit: int = 20) -> list[StreamEvent]:
    """Return the newest stream events about one company, from every stream (each has its own timepoints)."""
    if not company_number:
        return []
    return list(db.session.scalars(select(StreamEvent).where(StreamEvent.company_number == company_number)
                                   .order_by(StreamEvent.published_at.desc().nulls_last(), StreamEvent.id.desc())
                                   .limit(limit)))


DEMO_BASE_URL = "http://127.0.0.1:5055"
DEMO_KEY = "demo-stream-key"


def ensure_demo_stream(slug: str) -> None:
    """Give tenant `slug` every stream, enabled, on the local simulator (those it lacks); a host runs them all."""
    from strata.streams.supervisor import ensure_tenant
    from strata.tenancy.service import get_tenant, tenant_context

    with tenant_context(get_tenant(slug)):
        have = set(db.session.scalars(select(StreamMetadata.stream_type)))
        for stream_type in STREAM_PATHS:
            if stream_type in have:
                continue
            stream = create_stream({"stream_type": stream_type, "base_url": DEMO_BASE_URL, "stream_key": DEMO_KEY,
                                    "track_all": "on", "stall_after_seconds": "120"}, None)
            stream.enabled = True
        db.session.commit()
        ensure_tenant()  # the streams worker's host picks them all up as soon as it starts
