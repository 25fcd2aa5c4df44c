"""Report pages: the workflows list, one workflow with its schedule and runs, its partitions, one backfill run,
one segment's attempts, and the member's report notifications.

A run's page shows a heatmap of its segments and a progress bar that refresh themselves every
two seconds while it runs (each poll sends only the cells that changed since the last one) and
stop once it is done, then its chart and table (and CSV).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata.db import db
from strata.errors import FieldError, ValidationError
from strata.reports import alerts, engine, partitions, service, sources, wizard
from strata.reports.schedules import FREQUENCIES, describe

bp = tenant_blueprint("reports", __name__, url_prefix="/reports")

WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))


@bp.app_template_filter("in_zone")
def in_zone(instant: datetime | None, tz: str | None, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    """Format `instant` in the IANA zone `tz` (a schedule's own, or the tenant's); "–" for None."""
    if instant is None:
        return "–"
    return instant.astimezone(ZoneInfo(tz or "UTC")).strftime(fmt)


def _back(target: str):
    return make_response(redirect=target) if request.htmx else redirect(target)


@bp.get("/")
def index():
    """List the tenant's reports with their latest run's status and their last and next runs."""
    return render_template("reports/index.html", rows=service.list_workflows(), sources=sources.REGISTRY,
                           timezone=service.tenant_timezone(), unread=alerts.unread(current_user.id))


# --- one workflow: schedule and runs --------------------------------------------------------------------------------

def _workflow_context(workflow, form=None, errors=None) -> dict:
    schedule = service.schedule_of(workflow)
    config = schedule.schedule_config or {"frequency": "none"}
    form = form if form is not None else wizard.schedule_inputs(config, service.tenant_timezone())
    runs = service.collections_of(workflow)
    last = max([d for d in (schedule.last_run_at, runs[0].created_at if runs else None) if d], default=None)
    return {"workflow": workflow, "schedule": schedule, "runs": runs, "last_run": last,
            "source": sources.REGISTRY.get(workflow.data_source), "form": form, "errors": errors or {},
            "frequencies": FREQUENCIES, "weekdays": WEEKDAYS, "described": describe(config),
            "zone": config.get("timezone") or service.tenant_timezone(),
            "upcoming": wizard.next_runs(config) if schedule.is_active else []}


@bp.get("/<workflow_id>")
def workflow(workflow_id: str):
    """Show one report: its parameters, schedule (editable) and runs."""
    return render_template("reports/workflow.html", **_workflow_context(service.get_workflow(workflow_id)))


@bp.post("/<workflow_id>/schedule")
@role_required("editor")
def edit_schedule(workflow_id: str):
    """Replace the schedule; 422 with the form's inline errors and nothing changed."""
    found = service.get_workflow(workflow_id)
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    form["days_of_week"] = request.form.getlist("days_of_week")
    try:
        service.set_schedule(found, form)
    except ValidationError as exc:
        db.session.rollback()
        return page_or_partial("reports/workflow.html", "reports/_schedule.html", 422,
                               **_workflow_context(found, form, exc.by_field()))
    db.session.commit()
    flash("Schedule saved.", "success")
    return page_or_partial("reports/workflow.html", "reports/_schedule.html", **_workflow_context(found))


@bp.post("/<workflow_id>/<any(pause, resume):action>")
@role_required("editor")
def toggle(workflow_id: str, action: str):
    """Pause or resume the report's schedule."""
    found = service.get_workflow(workflow_id)
    service.set_active(found, action == "resume")
    db.session.commit()
    flash("Schedule resumed." if action == "resume" else "Schedule paused.", "success")
    return page_or_partial("reports/workflow.html", "reports/_schedule.html", **_workflow_context(found))


@bp.post("/<workflow_id>/run")
@role_required("editor")
def run_now(workflow_id: str):
    """Start a new backfill of the report's lookback window now."""
    collection = service.run_now(service.get_workflow(workflow_id), current_user.id)
    return _back(url_for(".collection", collection_id=collection.id))


# --- one run --------------------------------------------------------------------------------------------------------

def _run_context(collection, segments: bool = True) -> dict:
    found = engine.counts(collection.id)
    total = sum(found.values()) or 1
    done = found.get("completed", 0) + found.get("failed", 0) + found.get("cancelled", 0)
    return {"collection": collection, "workflow": service.get_workflow(collection.workflow_id),
            "segments": service.segments_of(collection) if segments else [], "counts": found, "total": total,
            "done": done, "since": service.clock().isoformat()}


@bp.get("/runs/<collection_id>")
def collection(collection_id: str):
    """Show a backfill: heatmap and progress (live while running), then chart, table and CSV."""
    found = service.get_collection(collection_id)
    context = _run_context(found)
    if found.finished:
        context.update(_results(found))
    return page_or_partial("reports/collection.html", "reports/_progress.html", **context)


@bp.get("/runs/<collection_id>/progress")
def progress(collection_id: str):
    """Return the progress: with `since` while running, the summary and only the cells changed since then
    (out-of-band swaps); once the run is done, the whole partial (and a page refresh for a poll); without `since`,
    the whole partial."""
    found = service.get_collection(collection_id)
    since = _since(request.args.get("since"))
    if since is not None and not found.finished:
        context = _run_context(found, segments=False)
        context["changed"] = service.segments_changed(found, since)
        return render_template("reports/_progress_delta.html", **context), 200, {"Vary": "HX-Request"}
    context = _run_context(found)
    if found.finished:
        context.update(_results(found))
    body = render_template("reports/_progress.html", **context)
    if since is not None:  # the run ended since the last poll: the page reloads once, with its results and chart
        return make_response(body, refresh=True)
    return body, 200, {"Vary": "HX-Request"}


def _since(raw: str | None) -> datetime | None:
    """Return the poll's `since` instant, or None when absent or not an ISO timestamp with an offset."""
    try:
        value = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value.tzinfo is not None else None


def _results(collection) -> dict:
    names, rows = service.results(collection)
    chart = {"labels": [s.week_start.isoformat() for s, _ in rows],
             "datasets": [{"label": n, "data": [v[i] for _, v in rows]} for i, n in enumerate(names)]}
    return {"names": names, "rows": rows, "chart": chart}


@bp.get("/runs/<collection_id>/results.csv")
def download(collection_id: str):
    """Download the run's results as CSV."""
    found = service.get_collection(collection_id)
    name = f"report-{found.start_date}-{found.end_date}.csv"
    return Response(service.results_csv(found), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/runs/<collection_id>/cancel")
@role_required("editor")
def cancel(collection_id: str):
    """Cancel the run: pending segments are dropped, running ones finish."""
    found = service.get_collection(collection_id)
    engine.cancel(found)
    return page_or_partial("reports/collection.html", "reports/_progress.html", **_run_context(found))


@bp.post("/runs/<collection_id>/retry")
@role_required("editor")
def retry(collection_id: str):
    """Run the failed and cancelled segments of the run again."""
    found = service.get_collection(collection_id)
    queued = engine.rerun(found)
    if not queued:
        flash("Nothing to retry: no segment failed.", "info")
    return page_or_partial("reports/collection.html", "reports/_progress.html", **_run_context(found))


@bp.post("/runs/<collection_id>/segments/<int:segment_id>/retry")
@role_required("editor")
def retry_segment(collection_id: str, segment_id: int):
    """Run one segment again; its data is replaced."""
    found = service.get_collection(collection_id)
    if not engine.rerun(found, [segment_id]):
        flash("That segment is running or does not belong to this run.", "info")
    return page_or_partial("reports/collection.html", "reports/_progress.html", **_run_context(found))


@bp.get("/runs/<collection_id>/segments/<int:segment_id>")
def segment(collection_id: str, segment_id: int):
    """Show one segment of a run with every attempt: worker, start, end, duration and error."""
    found = service.get_collection(collection_id)
    seg = service.get_segment(found, segment_id)
    return render_template("reports/segment.html", collection=found, segment=seg,
                           workflow=service.get_workflow(found.workflow_id), attempts=service.attempts_of(seg))


# --- partitions: one cell per period across all runs ----------------------------------------------------------------

def _date_field(form, name: str, label: str, default: date, errors: list[FieldError]) -> date:
    raw = (form.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, "date", f"{label} must be a date (YYYY-MM-DD)."))
        return default


def _range(workflow, form) -> tuple[date, date]:
    """Return the [start, end] a partitions request names (the default range for what it leaves out), clipped."""
    today = service.today()
    start, end = partitions.default_range(workflow, today)
    errors: list[FieldError] = []
    start = _date_field(form, "start_date", "Start date", start, errors)
    end = _date_field(form, "end_date", "End date", end, errors)
    if errors:
        raise ValidationError(errors)
    if end < start:
        raise ValidationError.single("end_date", "after_start", "End date must be on or after the start date.")
    return partitions.clip(workflow, start, end, today)


def _partitions_page(workflow, form, errors=None, status: int = 200):
    tz = service.tenant_timezone()
    try:
        start, end = _range(workflow, form)
    except ValidationError as exc:
        errors, status = {**(errors or {}), **exc.by_field()}, 422
        start, end = partitions.default_range(workflow, service.today())
    parts = partitions.partitions(workflow, start, end, tz)
    return render_template("reports/partitions.html", workflow=workflow, parts=parts, start=start, end=end,
                           timezone=tz, tally=Counter(p.status for p in parts), errors=errors or {},
                           form=form), status


@bp.get("/<workflow_id>/partitions")
def partitions_view(workflow_id: str):
    """Show the report's partitions: one cell per period over a range, with the latest status across runs."""
    return _partitions_page(service.get_workflow(workflow_id), request.args)


@bp.post("/<workflow_id>/partitions/<any(fill, retry, backfill):action>")
@role_required("editor")
def partitions_act(workflow_id: str, action: str):
    """Fill the missing periods, retry the failed ones, or backfill a range (clipped to the report's limits)."""
    found = service.get_workflow(workflow_id)
    try:
        start, end = _range(found, request.form)
    except ValidationError as exc:
        return _partitions_page(found, request.form, exc.by_field(), 422)
    tz, today = service.tenant_timezone(), service.today()
    if action == "retry":
        queued = partitions.retry_failed(found, start, end, tz)
        flash(f"{queued} failed period(s) sent back to work." if queued else "No failed period in this range.",
              "success" if queued else "info")
        return _back(url_for(".partitions_view", workflow_id=found.id, start_date=start, end_date=end))
    if action == "fill":
        run = partitions.fill_missing(found, start, end, timezone=tz, today=today, user_id=current_user.id)
    else:
        run = partitions.backfill(found, start, end, timezone=tz, today=today, user_id=current_user.id)
    if run is None:
        flash("No missing period in this range.", "info")
        return _back(url_for(".partitions_view", workflow_id=found.id, start_date=start, end_date=end))
    return _back(url_for(".collection", collection_id=run.id))


# --- notifications --------------------------------------------------------------------------------------------------

@bp.get("/notifications")
def notifications():
    """List the member's report alerts, newest first, and mark them read."""
    found = alerts.for_user(current_user.id)
    unread = {n.id for n in found if n.read_at is None}
    alerts.mark_read(current_user.id)
    db.session.commit()
    return render_template("reports/notifications.html", notes=found, unread=unread,
                           access_timezone=service.tenant_timezone())
