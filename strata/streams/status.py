"""What a consumer records about its stream between batches: connection state, errors, alarms.

Each function runs and commits one short transaction of its own in the current tenant's context.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select, update

from strata.db import db
from strata.streams.ingest import apply_companies
from strata.streams.models import StreamEvent, StreamMetadata
from strata.streams.protocol import EventRow
from strata.streams.resources import apply_resources


def _set(stream_id: int, **values) -> None:
    db.session.execute(update(StreamMetadata).where(StreamMetadata.id == stream_id)
                       .values(updated_at=func.now(), **values))
    db.session.commit()


def _error(stream_id: int, message: str, connection_status: str = "error", **values) -> None:
    _set(stream_id, connection_status=connection_status, last_error=message[:2000], last_error_at=func.now(),
         error_count=StreamMetadata.error_count + 1, **values)


def mark_connected(stream_id: int) -> None:
    """The server answered 200: the stream is connected."""
    _set(stream_id, connection_status="connected")


def mark_disconnected(stream_id: int) -> None:
    """The consumer stopped on purpose: disconnected, unless an error status should stay visible."""
    db.session.execute(update(StreamMetadata).where(StreamMetadata.id == stream_id,
                                                    StreamMetadata.connection_status == "connected")
                       .values(connection_status="disconnected", updated_at=func.now()))
    db.session.commit()


def disconnected(stream_id: int, detail: str, error: bool) -> None:
    """A connection that delivered events ended; an abrupt end counts as an error, a clean close does not."""
    if error:
        _error(stream_id, f"Disconnected ({detail}); reconnecting", "disconnected")
    else:
        _set(stream_id, connection_status="disconnected")


def failed(stream_id: int, message: str, wait: float) -> None:
    """A connection attempt failed; record it with the wait before the next one."""
    _error(stream_id, f"{message}; retrying in {wait:.0f} s")


KEY_REJECTED = "Stream key rejected"


def unauthorized(stream_id: int, url: str, detail: str) -> None:
    """401: the key is wrong. The stream is disabled until an admin enters a valid key and starts it."""
    _error(stream_id, f"{KEY_REJECTED} by {url} (401 {detail[:120] or 'Unauthorized'}). "
                      "Enter a valid key and start the stream again.", enabled=False)


def resync_needed(stream_id: int, last_timepoint: int | None) -> None:
    """416: the checkpoint is older than the server keeps. Stop and ask the admin to resync."""
    asked = last_timepoint + 1 if last_timepoint is not None else "now"
    _error(stream_id, f"Resync needed: the server no longer has timepoint {asked} (416: too old or invalid). "
                      "Events after the last checkpoint may be missing; choose \"Resync from now\" to go on.",
           resync_needed=True)


STALL_ALARM = "Stall alarm:"


def record_stall(stream_id: int, after: int) -> None:
    """The stall alarm: connected, but no event for `after` seconds."""
    _set(stream_id, last_error=f"{STALL_ALARM} no event for {after} s although connected", last_error_at=func.now())


def is_enabled(stream_id: int) -> bool:
    """Return whether the stream is still enabled (and not waiting for a resync)."""
    row = db.session.execute(select(StreamMetadata.enabled, StreamMetadata.resync_needed)
                             .where(StreamMetadata.id == stream_id)).first()
    db.session.rollback()
    return row is not None and row.enabled and not row.resync_needed


def write_single(stream_id: int, row: EventRow) -> None:
    """Write one event on its own (after its batch failed); a failure is logged on the event itself."""
    from strata.streams.ingest import write_batch

    try:
        write_batch(stream_id, [row])
    except Exception as exc:  # noqa: BLE001 - the event is recorded as failed with the reason
        db.session.rollback()
        row = EventRow(row.event_id, row.timepoint, row.resource_kind, row.event_type, row.company_number,
                       json.dumps({"raw": row.event_json[:20000]}), None, "failed",
                       f"Could not store the event: {type(exc).__name__}: {str(exc)[:500]}")
        write_batch(stream_id, [row])


def apply_logged(event: StreamEvent, row: EventRow, track_all: bool) -> None:
    """Apply a logged event again (a retry) and record the outcome on it."""
    if row.status == "processed":
        event.event_data = json.loads(row.event_json)  # the companies read their values from the log row
        event.event_type, event.resource_kind = row.event_type, row.resource_kind
        event.company_number, event.published_at = row.company_number, row.published_at
        db.session.flush()
        row.event_id = event.event_id
        apply_companies(event.stream_id, [row], track_all)
        apply_resources(event.stream_id, [row], track_all)
    event.processing_status = row.status
    event.error_message = row.error
    event.processed_at = func.now()
