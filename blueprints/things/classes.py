"""Pages for defining the model: the class list, the class editor (attributes, required flags,
relationships with cardinality), attributes, relationship types and the admin metrics page.

Members see the classes they may read; admins define. Refused input comes back as the same form
partial with inline messages and status 422, and nothing is written.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from blueprints.things import actor
from strata.accounts.models import ROLES
from strata.db import current_scope, db
from strata.errors import ValidationError
from strata.things import access, query, schema, summary
from strata.things.models import ACTIONS, CARDINALITIES, DATA_TYPES

bp = tenant_blueprint("thing_classes", __name__, url_prefix="/things")


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    db.session.rollback()
    return exc.by_field()


def _json_field(form, name: str) -> Any:
    """Return a form's JSON text as a value; raise ValidationError naming the field when it is not JSON."""
    raw = (form.get(name) or "").strip()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ValidationError.single(name, "json", f"{name.replace('_', ' ').capitalize()} must be valid JSON, "
                                                   'like {"required": ["code"]}.') from None


# --- class list and new class -------------------------------------------------------------------------------------

@bp.get("/")
def index():
    """List the classes this member may read, by name, with thing counts (prefix search, cursor pages)."""
    q = request.args.get("q", "").strip()
    page = query.search_classes(actor(), q, after=request.args.get("after"))
    return page_or_partial("things/index.html", "things/_class_table.html", results=page, q=q,
                           form={}, errors={})


@bp.post("/classes")
@role_required("admin")
def create_class():
    """Create a class from the list page's form; go to its editor, or re-render the form with 422."""
    form = request.form
    try:
        cls = schema.create_class(actor(), {"name": form.get("name", ""), "description": form.get("description", "")})
        db.session.commit()
    except ValidationError as exc:
        return render_template("things/_new_class.html", form=form, errors=_errors(exc)), 422
    flash(f"Created class {cls.name}. Now give it attributes and relationships.", "success")
    target = url_for(".edit_class", class_id=cls.id)
    return make_response(redirect=target) if request.htmx else redirect(target)


# --- class editor -------------------------------------------------------------------------------------------------

def _editor(class_id: int, **extra) -> dict[str, Any]:
    model = schema.load_schema(actor(), class_id)
    assigned = {s.attribute.id for s in model.slots}
    ctx = {"model": model, "cls": model.cls, "actions": ACTIONS, "roles": [r for r in ROLES if r != "admin"],
           "allowed": access.allowed, "cardinalities": CARDINALITIES,
           "attributes": [a for a in schema.list_attributes() if a.id not in assigned],
           "rtypes": schema.list_relationship_types(),
           "targets": [c for c, _, _ in query.search_classes(actor(), "", limit=200).rows],
           "form": {}, "errors": {}, "rel_form": {}, "rel_errors": {}, "assign_errors": {}}
    ctx.update(extra)
    return ctx


@bp.get("/classes/<int:class_id>/edit")
@role_required("admin")
def edit_class(class_id: int):
    """The class editor: details, permissions and rules; attributes; relationships."""
    return render_template("things/class_edit.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>")
@role_required("admin")
def update_class(class_id: int):
    """Save the class's details, permissions and validation rules; the form partial (422 on refusal)."""
    form = request.form
    try:
        values = {"name": form.get("name", ""), "description": form.get("description", ""),
                  "is_active": form.get("is_active") == "on",
                  "permissions": access.permissions_from_form(form.getlist("perm"), ACTIONS),
                  "validation_rules": _json_field(form, "validation_rules")}
        schema.update_class(actor(), class_id, values)
        db.session.commit()
    except ValidationError as exc:
        return render_template("things/_class_form.html", **_editor(class_id, form=form, errors=_errors(exc))), 422
    flash("Saved.", "success")
    return render_template("things/_class_form.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>/assignments")
@role_required("admin")
def assign(class_id: int):
    """Assign an attribute (required or not); the attributes partial (422 on refusal)."""
    form = request.form
    try:
        schema.assign(actor(), class_id, form.get("attribute_id", ""), is_required=form.get("is_required") == "on",
                      rules=_json_field(form, "assignment_rules") or None)
        db.session.commit()
    except ValidationError as exc:
        return render_template("things/_assignments.html", **_editor(class_id, assign_errors=_errors(exc))), 422
    return render_template("things/_assignments.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>/assignments/<int:assignment_id>/required")
@role_required("admin")
def set_required(class_id: int, assignment_id: int):
    """Make an assigned attribute required or optional; the attributes partial."""
    schema.set_required(actor(), class_id, assignment_id, request.form.get("is_required") == "on")
    db.session.commit()
    return render_template("things/_assignments.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>/assignments/<int:assignment_id>/delete")
@role_required("admin")
def unassign(class_id: int, assignment_id: int):
    """Unassign an attribute; the attributes partial."""
    schema.unassign(actor(), class_id, assignment_id)
    db.session.commit()
    return render_template("things/_assignments.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>/relationships")
@role_required("admin")
def add_relationship(class_id: int):
    """Allow links from this class; the relationships partial (422 on refusal)."""
    form = request.form
    values = {k: form.get(k, "") for k in ("to_thing_class_id", "relationship_type_id", "cardinality", "min", "max")}
    values["is_bidirectional"] = form.get("is_bidirectional") == "on"
    try:
        schema.add_class_relationship(actor(), class_id, values)
        db.session.commit()
    except ValidationError as exc:
        ctx = _editor(class_id, rel_form=form, rel_errors=_errors(exc))
        return render_template("things/_relationships.html", **ctx), 422
    return render_template("things/_relationships.html", **_editor(class_id))


@bp.post("/classes/<int:class_id>/relationships/<int:rel_id>/delete")
@role_required("admin")
def remove_relationship(class_id: int, rel_id: int):
    """Remove a relationship no link uses; the relationships partial (422 while links exist)."""
    try:
        schema.remove_class_relationship(actor(), class_id, rel_id)
        db.session.commit()
    except ValidationError as exc:
        return render_template("things/_relationships.html", **_editor(class_id, rel_errors=_errors(exc))), 422
    return render_template("things/_relationships.html", **_editor(class_id))


# --- attributes and relationship types ----------------------------------------------------------------------------

@bp.route("/attributes", methods=["GET", "POST"])
def attributes():
    """List attributes; admins create one (the form partial with 422 on refusal)."""
    form, errors, status = {}, {}, 200
    if request.method == "POST":
        actor().require_admin()
        form = request.form
        try:
            values = {k: form.get(k, "") for k in ("name", "label", "data_type", "description", "enum_values",
                                                    "reference_class_id")}
            values["constraints"] = _json_field(form, "constraints")
            made = schema.create_attribute(actor(), values)
            db.session.commit()
            flash(f"Created attribute {made.name}.", "success")
            form = {}
        except ValidationError as exc:
            errors, status = _errors(exc), 422
    ctx = {"items": schema.list_attributes(), "data_types": DATA_TYPES, "form": form, "errors": errors,
           "targets": [c for c, _, _ in query.search_classes(actor(), "", limit=200).rows]}
    return page_or_partial("things/attributes.html", "things/_attributes.html", status, **ctx)


@bp.route("/relationship-types", methods=["GET", "POST"])
def relationship_types():
    """List relationship types; admins create one (422 on refusal)."""
    form, errors, status = {}, {}, 200
    if request.method == "POST":
        actor().require_admin()
        form = request.form
        try:
            made = schema.create_relationship_type(actor(), {k: form.get(k, "") for k in
                                                             ("name", "inverse_name", "description")})
            db.session.commit()
            flash(f"Created relationship type {made.name}.", "success")
            form = {}
        except ValidationError as exc:
            errors, status = _errors(exc), 422
    ctx = {"items": schema.list_relationship_types(), "form": form, "errors": errors}
    return page_or_partial("things/relationship_types.html", "things/_relationship_types.html", status, **ctx)


@bp.get("/metrics")
@role_required("admin")
def metrics():
    """Admin page: per-class usage (thing_class_metrics) and the schema's table sizes (schema_storage_metrics)."""
    return render_template("things/metrics.html", classes=summary.class_metrics(), tables=summary.storage_metrics())


@bp.post("/metrics/refresh")
@role_required("admin")
def refresh_counts():
    """Queue a refresh of the class counts now."""
    from strata import jobs

    jobs.enqueue("things.refresh_summary", current_scope().tenant_id)
    flash("Counts will be refreshed in a moment.", "info")
    return redirect(url_for(".metrics"))
