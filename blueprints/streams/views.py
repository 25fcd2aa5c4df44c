"""Stream pages: the streams of a tenant, one stream's live dashboard and controls, its events log.

Everyone in the tenant reads; admins configure, start, stop and resync; editors retry failed events.
The stream key is write-only: forms never echo it back.
"""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata.db import db
from strata.errors import ValidationError
from strata.streams import dashboard as _card  # noqa: F401  (registers the dashboard card)
from strata.streams import service, supervisor
from strata.streams.models import EVENT_TYPES, PROCESSING_STATUSES, STREAM_LABELS, STREAM_PATHS

bp = tenant_blueprint("streams", __name__, url_prefix="/streams")
DEFAULT_BASE_URL = "https://stream.companieshouse.gov.uk"


def _form_context(form, errors: dict | None = None, stream=None) -> dict:
    return {"form": form, "errors": errors or {}, "stream": stream, "stream_types": STREAM_PATHS,
            "labels": STREAM_LABELS, "default_base_url": DEFAULT_BASE_URL}


def _status_context(stream_id: int) -> dict:
    stream = service.get_stream(stream_id)
    running = supervisor.is_running(g.access.tenant_id, stream.id)
    return {"stream": stream, "stats": service.stats(stream), "running": running,
            "shown": service.state(stream, running)}


def _list_context() -> dict:
    streams = service.list_streams()
    running = supervisor.running_streams(g.access.tenant_id, [s.id for s in streams])
    return {"streams": streams, "states": {s.id: service.state(s, s.id in running) for s in streams}}


def _back(stream_id: int):
    target = url_for(".detail", stream_id=stream_id)
    return make_response(redirect=target) if request.htmx else redirect(target)


@bp.get("/")
def index():
    """List the tenant's streams with their state; admins get the form to add one."""
    return render_template("streams/index.html", **_list_context(), **_form_context({}))


@bp.post("/")
@role_required("admin")
def create():
    """Configure a stream; 422 with the form's inline errors and nothing written."""
    try:
        stream = service.create_stream(request.form, current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        ctx = _form_context(request.form, exc.by_field())
        return page_or_partial("streams/index.html", "streams/_form.html", 422, **_list_context(), **ctx)
    db.session.commit()
    flash(f"{stream.label} stream configured. Start it when you are ready.", "success")
    return _back(stream.id)


@bp.get("/<int:stream_id>")
def detail(stream_id: int):
    """Show one stream's live dashboard: state, lag, events per minute, errors and its controls."""
    ctx = _status_context(stream_id)
    ctx.update(_form_context({}, stream=ctx["stream"]))
    return render_template("streams/detail.html", **ctx)


@bp.get("/<int:stream_id>/status")
def status(stream_id: int):
    """Return the self-refreshing status partial (the page itself for a plain request)."""
    if not request.htmx:
        return redirect(url_for(".detail", stream_id=stream_id))
    return render_template("streams/_status.html", **_status_context(stream_id)), 200, {"Vary": "HX-Request"}


@bp.post("/<int:stream_id>/settings")
@role_required("admin")
def settings(stream_id: int):
    """Change the stream's settings (an empty key keeps the stored one); 422 with the form on bad input."""
    try:
        stream = service.update_stream(stream_id, request.form, current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        ctx = _form_context(request.form, exc.by_field(), service.get_stream(stream_id))
        if request.htmx:
            return render_template("streams/_settings_form.html", **ctx), 422
        ctx.update(_status_context(stream_id))
        return render_template("streams/detail.html", **ctx), 422
    db.session.commit()
    flash(f"{stream.label} stream settings saved. A running consumer uses them from its next connection.", "success")
    return _back(stream_id)


def _act(stream_id: int, action, message: str, launch: bool):
    try:
        action(stream_id, current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back(stream_id)
    db.session.commit()
    if launch:
        supervisor.ensure_consumer(stream_id)
    flash(message, "success")
    if request.htmx:
        return render_template("streams/_status.html", **_status_context(stream_id))
    return redirect(url_for(".detail", stream_id=stream_id))


@bp.post("/<int:stream_id>/start")
@role_required("admin")
def start(stream_id: int):
    """Enable the stream and start its consumer."""
    return _act(stream_id, service.start, "Stream started; it connects within a few seconds.", True)


@bp.post("/<int:stream_id>/stop")
@role_required("admin")
def stop(stream_id: int):
    """Disable the stream; the consumer stops within seconds and keeps its checkpoint."""
    return _act(stream_id, service.stop, "Stream stopped. Starting it again resumes after the last event.", False)


@bp.post("/<int:stream_id>/resync")
@role_required("admin")
def resync(stream_id: int):
    """Drop the checkpoint and resume from the live head."""
    return _act(stream_id, service.resync_from_now, "Resynced: the stream goes on from now.", True)


def _events_page(stream):
    errors, rows, more, filters, page = [], [], False, service.EventFilters(), 1
    try:
        filters = service.parse_filters(request.args)
        page = service.parse_page(request.args.get("page"))
        rows, more = service.events(stream.id if stream else None, filters, page)
    except ValidationError as exc:
        errors = exc.errors
    ctx = {"stream": stream, "rows": rows, "more": more, "page_no": page, "filters": filters,
           "errors": errors, "event_types": EVENT_TYPES, "statuses": PROCESSING_STATUSES}
    return page_or_partial("streams/events.html", "streams/_events.html", 422 if errors else 200, **ctx)


@bp.get("/events")
def all_events():
    """List the events of every stream, newest first, filtered by type, status and company number."""
    return _events_page(None)


@bp.get("/<int:stream_id>/events")
def events(stream_id: int):
    """List the stream's events, newest first, filtered by type, status and company number."""
    return _events_page(service.get_stream(stream_id))


@bp.get("/<int:stream_id>/events/<bigint:event_pk>")
def event(stream_id: int, event_pk: int):
    """Show one event with its full JSON."""
    stream = service.get_stream(stream_id)
    row = service.get_event(stream.id, event_pk)
    pretty = json.dumps(row.event_data, indent=2, sort_keys=True, ensure_ascii=False)
    return render_template("streams/event.html", stream=stream, row=row, pretty=pretty)


@bp.post("/<int:stream_id>/events/<bigint:event_pk>/retry")
@role_required("editor")
def retry(stream_id: int, event_pk: int):
    """Process one failed event again; return its row (htmx) or go back to it."""
    row = service.retry_event(stream_id, event_pk)
    db.session.commit()
    if request.htmx:
        return render_template("streams/_event_row.html", row=row, stream=service.get_stream(stream_id))
    flash("Processed." if row.processing_status == "processed" else f"Still failing: {row.error_message}",
          "success" if row.processing_status == "processed" else "error")
    return redirect(url_for(".event", stream_id=stream_id, event_pk=event_pk))


@bp.post("/<int:stream_id>/events/retry-failed")
@role_required("editor")
def retry_failed(stream_id: int):
    """Retry every failed event of the stream and report how many now pass."""
    fixed, still = service.retry_failed(stream_id)
    db.session.commit()
    flash(f"{fixed} failed event(s) processed; {still} still failing.", "success" if not still else "warning")
    target = url_for(".events", stream_id=stream_id, status="failed" if still else None)
    return make_response(redirect=target) if request.htmx else redirect(target)
