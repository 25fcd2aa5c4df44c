"""JSON for reports under `/api/t/<slug>/reports/…`: create a report (and start its backfill), read a run's
progress and results, cancel it or retry its failed segments. Viewers read; editors write. Bad input
is a 422 `{"error", "errors": [{field, rule, message}]}` and nothing is created.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from blueprints import role_required, tenant_blueprint
from strata.errors import FieldError, ValidationError
from strata.reports import engine, service, validation

bp = tenant_blueprint("reports_api", __name__, api=True, url_prefix="/reports")


LIST_FIELDS = frozenset({"days_of_week"})


def _form(data: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    """Return JSON fields as the wizard's form would send them (text; a list only where the form has one).

    A value of the wrong shape (an object, or a list where the form has one value) is added to `errors`.
    """
    form: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, list) and name in LIST_FIELDS and all(not isinstance(v, list | dict) for v in value):
            form[name] = [_scalar(v) for v in value]
        elif isinstance(value, list | dict) or name in LIST_FIELDS:
            shape = "a list of values" if name in LIST_FIELDS else "a string, number or boolean"
            errors.append(FieldError(name, "type", f"{name} must be {shape}."))
        else:
            form[name] = _scalar(value)
    return form


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    return "" if value is None else str(value)


def _body() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the body's wizard fields and its `schedule` object, both as form input; raise ValidationError."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", "The request body must be a JSON object with the wizard's "
                                                     'fields, e.g. {"name": "Weekly", "data_source": "companies"}.')
    raw_schedule = body.pop("schedule", None) or {"frequency": "none"}
    if not isinstance(raw_schedule, dict):
        raise ValidationError.single("schedule", "type", "schedule must be a JSON object.")
    errors: list[FieldError] = []
    fields, schedule = _form(body, errors), _form(raw_schedule, errors)
    if errors:
        raise ValidationError(errors)
    return fields, schedule


def _run(collection) -> dict[str, Any]:
    names, rows = service.results(collection)
    return {"id": str(collection.id), "workflow_id": str(collection.workflow_id), "status": collection.status,
            "start_date": collection.start_date.isoformat(), "end_date": collection.end_date.isoformat(),
            "timezone": collection.timezone, "segmentation": collection.segmentation_config,
            "counts": engine.counts(collection.id), "series": names,
            "segments": [{"id": seg.id, "start": seg.week_start.isoformat(), "end": seg.week_end.isoformat(),
                          "status": seg.status, "attempts": seg.attempts, "error": seg.error,
                          "values": dict(zip(names, values, strict=True))} for seg, values in rows]}


@bp.post("/")
@role_required("editor")
def create():
    """Create a report from the wizard's fields (plus `schedule`: an object) and start its backfill; 201."""
    body, raw_schedule = _body()
    errors, config = [], {}
    try:
        config.update(validation.parameters(body))
    except ValidationError as exc:
        errors.extend(exc.errors)
    try:
        config["schedule_config"] = validation.schedule(raw_schedule, service.tenant_timezone())
    except ValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    workflow, collection = service.create_report(config, current_user.id)
    engine.launch(collection)
    return {"workflow_id": str(workflow.id), "run": _run(collection)}, 201


@bp.get("/runs/<collection_id>")
def run(collection_id: str):
    """Return a run's status, segment counts and per-segment values; 404 if this tenant has no such run."""
    return _run(service.get_collection(collection_id))


@bp.post("/runs/<collection_id>/<any(cancel, retry):action>")
@role_required("editor")
def act(collection_id: str, action: str):
    """Cancel the run, or retry its failed and cancelled segments; return the run."""
    collection = service.get_collection(collection_id)
    if action == "cancel":
        engine.cancel(collection)
    else:
        engine.rerun(collection)
    return _run(service.get_collection(collection_id))
