"""Pages for things: a class's things (filters on attribute values, cursor pages), create and edit forms
generated from the class's attributes, the detail page with related things both ways, links, soft
delete and restore. Permissions follow the class; a class the member may not read is a 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from htmx_flask import make_response

from blueprints import page_or_partial, tenant_blueprint
from blueprints.things import actor
from strata import filters as flt
from strata.db import db
from strata.errors import FieldError, ValidationError
from strata.things import query, schema, service
from strata.things.values import display

bp = tenant_blueprint("things", __name__, url_prefix="/things")
RESERVED = ("q", "after", "f_field", "f_op", "f_value")
INPUT_TYPES = {"integer": "number", "date": "date", "datetime": "datetime-local", "reference": "number"}


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    db.session.rollback()
    return exc.by_field()


# --- list ---------------------------------------------------------------------------------------------------------

def _filter_params() -> list[tuple[str, str]]:
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in RESERVED and v]
    field_name = request.args.get("f_field", "").strip()
    if field_name:
        op, value = request.args.get("f_op", "eq"), request.args.get("f_value", "")
        params.append((field_name, flt.expression(op, value)))
    return params


@bp.get("/c/<int:class_id>/")
def index(class_id: int):
    """List a class's things by name, filtered on attribute values, one cursor page at a time."""
    model = schema.load_schema(actor(), class_id, links=False)
    params, q = _filter_params(), request.args.get("q", "").strip()
    page, errors, status = None, [], 200
    try:
        filters = query.parse_filters(params)
        page = query.list_things(actor(), model, filters, q=q, after=request.args.get("after"))
    except ValidationError as exc:
        errors, status = [e.message for e in exc.errors], 422

    def url(**changes):
        pairs = [(k, v) for k, v in {"q": q, **changes}.items() if v] + params
        return url_for(".index", class_id=class_id) + ("?" + urlencode(pairs) if pairs else "")

    def without(i):
        pairs = ([("q", q)] if q else []) + params[:i] + params[i + 1:]
        return url_for(".index", class_id=class_id) + ("?" + urlencode(pairs) if pairs else "")

    ctx = {"model": model, "cls": model.cls, "results": page, "errors": errors, "params": params, "q": q,
           "url": url, "without": without, "operators": query.OPERATORS, "display": display,
           "can_create": actor().can("create", model.cls) and model.cls.is_active}
    return page_or_partial("things/things.html", "things/_things_table.html", status, **ctx)


@bp.get("/c/<int:class_id>/trash")
def trash(class_id: int):
    """List a class's soft-deleted things, to restore them."""
    model = schema.load_schema(actor(), class_id)
    page = query.list_things(actor(), model, deleted=True, after=request.args.get("after"))
    return render_template("things/trash.html", model=model, cls=model.cls, page=page,
                           can_restore=actor().can("delete", model.cls))


# --- create and edit ----------------------------------------------------------------------------------------------

def _values_from(form, model: schema.ClassSchema) -> dict[str, Any]:
    return {slot.name: form.get(f"v_{slot.name}", "") for slot in model.slots if f"v_{slot.name}" in form}


def _form_ctx(model, form, errors, thing=None) -> dict[str, Any]:
    return {"model": model, "cls": model.cls, "form": form, "errors": errors, "thing": thing,
            "input_types": INPUT_TYPES}


@bp.route("/c/<int:class_id>/new", methods=["GET", "POST"])
def new(class_id: int):
    """The create form, generated from the class's attributes; 422 with inline messages on refusal."""
    model = schema.load_schema(actor(), class_id)
    actor().require("create", model.cls)
    if request.method == "GET":
        return render_template("things/thing_form.html", **_form_ctx(model, {}, {}))
    try:
        thing = service.create_thing(actor(), class_id, request.form.get("name", ""), _values_from(request.form, model))
        db.session.commit()
    except ValidationError as exc:
        ctx = _form_ctx(model, request.form, _errors(exc))
        return page_or_partial("things/thing_form.html", "things/_thing_form.html", 422, **ctx)
    flash(f"Created {thing.name}.", "success")
    target = url_for(".detail", thing_id=thing.id)
    return make_response(redirect=target) if request.htmx else redirect(target)


@bp.route("/<bigint:thing_id>/edit", methods=["GET", "POST"])
def edit(thing_id: int):
    """The edit form; saving returns to the detail page, or 422 with inline messages."""
    thing = service.get_thing(actor(), thing_id, deleted_too=False)
    model = schema.load_schema(actor(), thing.thing_class_id)
    actor().require("update", model.cls)
    if request.method == "GET":
        form = {"name": thing.name, **{f"v_{k}": v for k, v in thing.attribute_values.items()}}
        return render_template("things/thing_form.html", **_form_ctx(model, form, {}, thing))
    try:
        service.update_thing(actor(), thing_id, request.form.get("name", ""), _values_from(request.form, model))
        db.session.commit()
    except ValidationError as exc:
        ctx = _form_ctx(model, request.form, _errors(exc), thing)
        return page_or_partial("things/thing_form.html", "things/_thing_form.html", 422, **ctx)
    flash("Saved.", "success")
    target = url_for(".detail", thing_id=thing_id)
    return make_response(redirect=target) if request.htmx else redirect(target)


# --- detail, links, delete ----------------------------------------------------------------------------------------

def _detail_ctx(thing_id: int, link_form=None, link_errors=None) -> dict[str, Any]:
    thing = service.get_thing(actor(), thing_id)
    model = schema.load_schema(actor(), thing.thing_class_id)
    related = query.related(actor(), [thing.id]).of(thing.id)
    return {"thing": thing, "model": model, "cls": model.cls, "related": related, "display": display,
            "can_update": actor().can("update", model.cls) and not thing.is_deleted,
            "can_delete": actor().can("delete", model.cls), "link_form": link_form or {},
            "link_errors": link_errors or {}}


@bp.get("/<bigint:thing_id>")
def detail(thing_id: int):
    """A thing: its values and the things related to it (incoming links of bidirectional relationships too)."""
    return render_template("things/thing.html", **_detail_ctx(thing_id))


def _target_id(rel_id: Any, raw: str) -> Any:
    """Return the target thing id from an id or an exact name in the relationship's target class."""
    raw = (raw or "").strip()
    if raw.isdigit() or not raw:
        return raw
    rel = schema.get_class_relationship(actor(), rel_id)
    ids = service.ids_named(rel.to_thing_class_id, raw)
    if len(ids) != 1:
        problem = "No" if not ids else "More than one"
        raise ValidationError(FieldError("to_thing_id", "exists", f"{problem} thing is called {raw!r} in the target "
                                                                  "class; give its id instead."))
    return ids[0]


@bp.post("/<bigint:thing_id>/links")
def link(thing_id: int):
    """Link this thing to another (by id or exact name); the links partial, 422 on refusal."""
    form = request.form
    rel_id = form.get("relationship_id", "")
    try:
        if not rel_id.isdigit():
            raise ValidationError.single("relationship_id", "required", "Choose a relationship.")
        service.link(actor(), rel_id, thing_id, _target_id(rel_id, form.get("to_thing", "")))
        db.session.commit()
    except ValidationError as exc:
        errors = _errors(exc)
        return render_template("things/_links.html", **_detail_ctx(thing_id, form, errors)), 422
    return render_template("things/_links.html", **_detail_ctx(thing_id))


@bp.get("/<bigint:thing_id>/link-options")
def link_options(thing_id: int):
    """Suggestions for the link form: live things of the chosen relationship's target class by name."""
    rel_id = request.args.get("relationship_id", "")
    names: list[str] = []
    if rel_id.isdigit():
        rel = schema.get_class_relationship(actor(), rel_id)
        target = schema.load_schema(actor(), rel.to_thing_class_id)
        names = [t.name for t in query.list_things(actor(), target, q=request.args.get("to_thing", ""), limit=20).rows]
    return render_template("things/_link_options.html", names=names)


@bp.post("/links/<bigint:link_id>/delete")
def unlink(link_id: int):
    """Remove a link; back to the thing it was removed from (its links partial for htmx)."""
    back = request.form.get("thing_id", "")
    try:
        service.unlink(actor(), link_id)
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    if request.htmx and back.isdigit():
        return render_template("things/_links.html", **_detail_ctx(int(back)))
    return redirect(url_for(".detail", thing_id=back) if back.isdigit() else url_for("thing_classes.index"))


@bp.post("/<bigint:thing_id>/delete")
def delete(thing_id: int):
    """Soft-delete a thing; back to its detail page, which offers to restore it."""
    thing = service.delete_thing(actor(), thing_id)
    db.session.commit()
    flash(f"Deleted {thing.name}. You can restore it from this page or the class's deleted things.", "success")
    return redirect(url_for(".detail", thing_id=thing_id))


@bp.post("/<bigint:thing_id>/restore")
def restore(thing_id: int):
    """Restore a soft-deleted thing."""
    thing = service.restore_thing(actor(), thing_id)
    db.session.commit()
    flash(f"Restored {thing.name}.", "success")
    return redirect(url_for(".detail", thing_id=thing_id))
