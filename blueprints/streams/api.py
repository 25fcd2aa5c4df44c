"""JSON API of the streams under `/api/t/<slug>/streams/`: configure, start, stop, resync, status and events.

Everyone in the tenant reads; admins configure and act. The stream key is write-only: it is accepted on
create and update and never returned. Bad input is a 422 `{"error", "errors": [{field, rule, message}]}`
naming each field, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_login import current_user

from blueprints import role_required, tenant_blueprint
from strata.db import db
from strata.errors import FieldError, ValidationError
from strata.streams import service, supervisor
from strata.streams.models import StreamEvent, StreamMetadata

bp = tenant_blueprint("streams_api", __name__, api=True, url_prefix="/streams")

TEXT_FIELDS = ("stream_type", "base_url", "stream_key")
FLAG_FIELDS = ("enabled", "track_all")
FIELDS = (*TEXT_FIELDS, *FLAG_FIELDS, "stall_after_seconds")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _stream(stream: StreamMetadata, running: bool) -> dict[str, Any]:
    shown = service.state(stream, running)
    return {"id": stream.id, "stream_type": stream.stream_type, "label": stream.label, "base_url": stream.base_url,
            "url": stream.url, "enabled": stream.enabled, "track_all": stream.track_all,
            "stall_after_seconds": stream.stall_after_seconds, "state": shown.state, "reason": shown.reason,
            "running": running, "connection_status": stream.connection_status,
            "resync_needed": stream.resync_needed, "last_timepoint": stream.last_timepoint,
            "last_event_id": stream.last_event_id, "last_published_at": _iso(stream.last_published_at),
            "last_event_at": _iso(stream.last_event_at), "events_logged": stream.events_logged,
            "error_count": stream.error_count, "last_error": stream.last_error,
            "last_error_at": _iso(stream.last_error_at)}


def _one(stream_id: int) -> dict[str, Any]:
    stream = service.get_stream(stream_id)
    return _stream(stream, supervisor.is_running(g.access.tenant_id, stream.id))


def _body(stream: StreamMetadata | None) -> dict[str, str]:
    """Return the JSON body as the settings form would send it (text); on update, missing fields keep theirs."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", "The request body must be a JSON object, e.g. "
                                                     '{"stream_type": "filing-history", "stream_key": "…"}.')
    errors = [FieldError(name, "unknown", f"{name} is not a stream setting; use {', '.join(FIELDS)}.")
              for name in body if name not in FIELDS]
    form: dict[str, str] = {}
    if stream is not None:
        form = {"base_url": stream.base_url, "track_all": "on" if stream.track_all else "",
                "stall_after_seconds": str(stream.stall_after_seconds)}
    for name, value in body.items():
        if name in FLAG_FIELDS:
            if not isinstance(value, bool):
                errors.append(FieldError(name, "type", f"{name} must be true or false."))
            form[name] = "on" if value is True else ""
        elif name == "stall_after_seconds":
            if isinstance(value, bool) or not isinstance(value, int | str):
                errors.append(FieldError(name, "type", f"{name} must be a whole number of seconds."))
            form[name] = str(value)
        elif name in TEXT_FIELDS:
            if not isinstance(value, str):
                errors.append(FieldError(name, "type", f"{name} must be a string."))
            form[name] = value if isinstance(value, str) else ""
    if stream is not None and "stream_type" in body and body["stream_type"] != stream.stream_type:
        errors.append(FieldError("stream_type", "read_only", "stream_type cannot change; add another stream."))
    if errors:
        raise ValidationError(errors)
    return form


@bp.get("/")
def list_streams():
    """Return every stream of the tenant with its state and the reason for it."""
    streams = service.list_streams()
    running = supervisor.running_streams(g.access.tenant_id, [s.id for s in streams])
    return {"streams": [_stream(s, s.id in running) for s in streams]}


@bp.post("/")
@role_required("admin")
def create():
    """Configure a stream (stream_type, base_url, stream_key, enabled, track_all, stall_after_seconds); 201."""
    form = _body(None)
    form.setdefault("base_url", "https://stream.companieshouse.gov.uk")
    stream = service.create_stream(form, current_user.id)
    enabled = form.get("enabled") == "on"
    if enabled:
        service.start(stream.id, current_user.id)
    db.session.commit()
    if enabled:
        supervisor.ensure_consumer(stream.id)
    return _one(stream.id), 201


@bp.get("/<int:stream_id>")
def get(stream_id: int):
    """Return one stream (never its key)."""
    return _one(stream_id)


@bp.patch("/<int:stream_id>")
@role_required("admin")
def update(stream_id: int):
    """Change a stream's settings; fields left out keep their values, an empty stream_key keeps the key."""
    stream = service.get_stream(stream_id)
    form = _body(stream)
    service.update_stream(stream_id, form, current_user.id)
    if "enabled" in form and (form["enabled"] == "on") != stream.enabled:
        (service.start if form["enabled"] == "on" else service.stop)(stream_id, current_user.id)
    db.session.commit()
    if service.get_stream(stream_id).enabled:
        supervisor.ensure_consumer(stream_id)
    return _one(stream_id)


@bp.post("/<int:stream_id>/<any(start, stop, resync):action>")
@role_required("admin")
def act(stream_id: int, action: str):
    """Start the stream, stop it (it keeps its checkpoint), or resync it from now; return the stream."""
    {"start": service.start, "stop": service.stop, "resync": service.resync_from_now}[action](
        stream_id, current_user.id)
    db.session.commit()
    if action != "stop":
        supervisor.ensure_consumer(stream_id)
    return _one(stream_id)


@bp.get("/<int:stream_id>/status")
def status(stream_id: int):
    """Return the stream's state and reason, event counts, lag, the stall alarm and events per minute."""
    stream = service.get_stream(stream_id)
    stats = service.stats(stream)
    return {**_one(stream_id), "events_total": stats.total, "events_failed": stats.failed,
            "lag_seconds": stats.lag_seconds, "stalled": stats.stalled,
            "per_minute": [{"minute": label, "events": count} for label, count in stats.per_minute]}


def _event(event: StreamEvent) -> dict[str, Any]:
    return {"id": event.id, "stream_id": event.stream_id, "event_id": event.event_id, "timepoint": event.timepoint,
            "resource_kind": event.resource_kind, "event_type": event.event_type,
            "company_number": event.company_number, "processing_status": event.processing_status,
            "error_message": event.error_message, "published_at": _iso(event.published_at),
            "received_at": _iso(event.received_at), "processed_at": _iso(event.processed_at),
            "event": event.event_data}


def _events(stream_id: int | None):
    filters = service.parse_filters(request.args)
    page = service.parse_page(request.args.get("page"))
    rows, more = service.events(stream_id, filters, page)
    return {"events": [_event(e) for e in rows], "page": page, "next_page": page + 1 if more else None}


@bp.get("/events")
def all_events():
    """Return events of every stream, newest first; filters: type, status, company_number; page."""
    return _events(None)


@bp.get("/<int:stream_id>/events")
def events(stream_id: int):
    """Return the stream's events, newest first; filters: type, status, company_number; page."""
    return _events(service.get_stream(stream_id).id)
