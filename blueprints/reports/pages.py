"""Report pages: the workflows list, one workflow with its schedule and runs, and one backfill run.

A run's page shows a heatmap of its segments and a progress bar that refresh themselves every
two seconds while it runs and stop once it is done, then its chart and table (and CSV).
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata.db import db
from strata.errors import ValidationError
from strata.reports import engine, service, sources, wizard
from strata.reports.schedules import FREQUENCIES

bp = tenant_blueprint("reports", __name__, url_prefix="/reports")

WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))


def _back(target: str):
    return make_response(redirect=target) if request.htmx else redirect(target)


@bp.get("/")
def index():
    """List the tenant's reports with their latest run's status and their last and next runs."""
    return render_template("reports/index.html", rows=service.list_workflows(), sources=sources.REGISTRY)


# --- one workflow: schedule and runs --------------------------------------------------------------------------------

def _workflow_context(workflow, form=None, errors=None) -> dict:
    schedule = service.schedule_of(workflow)
    config = schedule.schedule_config or {"frequency": "none"}
    form = form if form is not None else {
        "frequency": config.get("frequency", "none"), "time": config.get("time", "09:00"),
        "timezone": config.get("timezone", service.tenant_timezone()),
        "days_of_week": [str(d) for d in config.get("daysOfWeek", [1])], "day_of_month": config.get("dayOfMonth", 1)}
    return {"workflow": workflow, "schedule": schedule, "runs": service.collections_of(workflow),
            "source": sources.REGISTRY.get(workflow.data_source), "form": form, "errors": errors or {},
            "frequencies": FREQUENCIES, "weekdays": WEEKDAYS,
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

def _run_context(collection) -> dict:
    found = engine.counts(collection.id)
    total = sum(found.values()) or 1
    done = found.get("completed", 0) + found.get("failed", 0) + found.get("cancelled", 0)
    return {"collection": collection, "workflow": service.get_workflow(collection.workflow_id),
            "segments": service.segments_of(collection), "counts": found, "total": total, "done": done}


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
    """Return the heatmap and progress partial; it stops polling once the run is done."""
    found = service.get_collection(collection_id)
    context = _run_context(found)
    if found.finished:
        context.update(_results(found))
    return render_template("reports/_progress.html", **context), 200, {"Vary": "HX-Request"}


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
