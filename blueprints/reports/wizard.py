"""The report wizard: parameters → schedule → review → submit, one htmx partial per step.

Each step posts its form; "next" validates it (422 with the step's partial and inline errors),
"back" keeps the input unvalidated. The draft lives on the server, so a reload resumes it.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, g, redirect, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints import _enter_tenant, page_or_partial, role_required, tenant_blueprint
from strata.db import current_scope, db
from strata.errors import ValidationError
from strata.reports import dashboard as _card  # noqa: F401  (registers the dashboard card)
from strata.reports import service, sources, validation, wizard
from strata.reports.models import STEPS
from strata.reports.schedules import FREQUENCIES
from strata.reports.validation import LOOKBACKS

bp = tenant_blueprint("report_wizard", __name__, url_prefix="/reports/new")

WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))


def _form() -> dict:
    """Return the posted step input as plain data (lists only for the weekday checkboxes)."""
    data = {k: v for k, v in request.form.items() if k not in ("csrf_token", "direction")}
    if "days_of_week" in request.form:
        data["days_of_week"] = request.form.getlist("days_of_week")
    return data


def _render(draft: dict, step: str | None = None, errors: dict | None = None, status: int = 200):
    step = step or draft["step"]
    context = {"draft": draft, "step": step, "steps": STEPS, "inputs": draft["inputs"].get(step, {}),
               "errors": errors or {}, "sources": sources.REGISTRY,
               "source_options": [(key, source.label) for key, source in sources.REGISTRY.items()],
               "lookbacks": LOOKBACKS,
               "frequencies": FREQUENCIES, "weekdays": WEEKDAYS}
    if step in ("review", "submit"):
        context["review"] = wizard.review(draft)
    if step == "schedule":
        context["upcoming"] = _preview(draft["inputs"].get("schedule", {}))
    return page_or_partial("reports/wizard.html", "reports/_wizard.html", status, **context)


def _preview(raw: dict) -> list | str:
    """Return the next five runs of the typed schedule (local times), or why there are none."""
    try:
        config = validation.schedule(raw, service.tenant_timezone())
    except ValidationError as exc:
        return " ".join(e.message for e in exc.errors)
    if config["frequency"] == "none":
        return []
    return [r.astimezone(ZoneInfo(config["timezone"])) for r in wizard.next_runs(config)]


@bp.errorhandler(ValidationError)
def refused_before_the_step(exc: ValidationError):
    """Input refused before the step's view (text the database cannot store, like a NUL in the name): the same
    step again with the field's message, 422, instead of an error page in place of the wizard."""
    db.session.rollback()
    if g.get("access") is None or current_scope() is None:  # refused before the tenant was entered
        entered = _enter_tenant(False)()
        if entered is not None:
            return entered
    if not g.access.allows("editor"):
        abort(403)
    draft = wizard.load(current_user.id)
    step = (request.view_args or {}).get("step") or draft["step"]
    if step not in STEPS or step == "submit":
        step = draft["step"]
    cleaned = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in _form().items()}
    draft["inputs"][step] = {k: v.encode("utf-8", "replace").decode() if isinstance(v, str) else v
                             for k, v in cleaned.items()}
    return _render(draft, step, exc.by_field(), 422)


@bp.get("/")
@role_required("editor")
def show():
    """Show the wizard at the draft's current step (a reload resumes where the member left off)."""
    return _render(wizard.load(current_user.id))


@bp.get("/<any(parameters, schedule, review, submit):step>")
@role_required("editor")
def step(step: str):
    """Show one step, if the steps before it are complete."""
    draft = wizard.load(current_user.id)
    return _render(draft, step if wizard.reachable(draft, step) else draft["step"])


@bp.post("/<any(parameters, schedule, review):step>")
@role_required("editor")
def advance(step: str):
    """Go back (keeping input), refresh the step (source changed), or validate it and go on."""
    draft = wizard.load(current_user.id)
    direction = request.form.get("direction", "next")
    if direction == "back":
        return _render(wizard.go_back(current_user.id, draft, step, _form()))
    if direction == "refresh":
        draft["inputs"][step] = _form()
        wizard.save(current_user.id, draft)
        return _render(draft, step)
    if not wizard.reachable(draft, step):
        return _render(draft)
    try:
        draft = wizard.complete(current_user.id, draft, step, _form())
    except ValidationError as exc:
        db.session.rollback()
        return _render(wizard.load(current_user.id), step, exc.by_field(), 422)
    db.session.commit()
    return _render(draft)


@bp.post("/submit")
@role_required("editor")
def submit():
    """Create the report, its schedule and its first backfill; go to the backfill's page."""
    draft = wizard.load(current_user.id)
    if request.form.get("direction") == "back":
        return _render(wizard.go_back(current_user.id, draft, "submit", None))
    try:
        workflow, collection = wizard.submit(current_user.id, draft)
    except ValidationError as exc:
        db.session.rollback()
        return _render(draft, draft["step"], exc.by_field(), 422)
    target = url_for("reports.collection", collection_id=collection.id)
    return make_response(redirect=target) if request.htmx else redirect(target)


@bp.post("/discard")
@role_required("editor")
def discard():
    """Forget the draft and start the wizard again."""
    wizard.discard(current_user.id)
    target = url_for(".show")
    return make_response(redirect=target) if request.htmx else redirect(target)

