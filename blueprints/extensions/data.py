"""Data browser for every installed extension table: list with filters, create, edit and delete rows.

Filters use the REST API's syntax in the query string (`stage=eq.won`), so a filtered page and the
API call share their address. Form values are parsed here and checked by the manifest's rules in
`strata.extensions.rest`; refused input re-renders the form with the messages (422).
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from blueprints import page_or_partial, role_required, tenant_blueprint
from blueprints.extensions import retry_when_stale
from strata.db import db
from strata.errors import FieldError, ValidationError
from strata.extensions import display, insight, rest, runtime
from strata.extensions.runtime import TableSpec

bp = tenant_blueprint("extension_data", __name__, url_prefix="/extensions/<plugin_id>/data")
retry_when_stale(bp)
PAGE_SIZE = 50
INPUTS = {"Int": "number", "Float": "text", "Decimal": "text", "DateTime": "datetime-local", "String": "text"}


def _columns(spec: TableSpec) -> list[dict[str, Any]]:
    """Return the editable columns of a table with what the form needs to render them."""
    columns = []
    for name, field in spec.fields.items():
        columns.append({"name": name, "type": field["type"], "required": field.get("required", False),
                        "choices": spec.enum_values(name), "labelled": None, "input": INPUTS.get(field["type"], "text"),
                        "help": field.get("description", "")})
    for name, rel in spec.relations.items():
        columns.append({"name": name, "type": f"→ {rel['target']}", "required": rel["required"], "choices": None,
                        "labelled": rest.relation_choices(spec, name), "input": "text",
                        "help": f"The {rel['column']} of a row of {rel['target']}."})
    return columns


def _parse_form(spec: TableSpec, form: MultiDict, *, creating: bool) -> dict[str, Any]:
    """Return the submitted values (empty inputs: omitted when creating, cleared when editing)."""
    body, errors = {}, []
    for column in _columns(spec):
        name = column["name"]
        if name not in form:
            continue
        raw = form.get(name, "").strip() if column["type"] != "Json" else form.get(name, "")
        if raw.strip() == "":
            if not creating:
                body[name] = None
            continue
        if column["type"] == "Json":
            try:
                body[name] = json.loads(raw)
            except ValueError:
                errors.append(FieldError(name, "json", f"{name} must be valid JSON."))
            continue
        body[name] = raw
    if errors:
        raise ValidationError(errors)
    return body


def _context(plugin_id: str, table: str) -> dict[str, Any]:
    spec = runtime.table(plugin_id, table)
    return {"plugin_id": plugin_id, "table": table, "spec": spec, "columns": _columns(spec)}


@bp.get("/<table>/")
def index(plugin_id: str, table: str):
    """List a table's rows, filtered with column=op.value parameters; 422 messages for bad filters."""
    context = _context(plugin_id, table)
    spec, errors, page = context["spec"], [], None
    args = [(k, v) for k, v in request.args.lists() if k not in ("page", "f_column", "f_op", "f_value")]
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    try:
        filters = rest.parse_filters(spec, args)
        order = rest.parse_order(spec, request.args.get("order"))
        page = rest.list_rows(spec, filters, order, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    except ValidationError as exc:
        errors = exc.errors
    active = [(k, v) for k, values in args if k not in rest.RESERVED_PARAMS for v in values]
    cells = display.grid(spec, page.rows, timezone=g.access.timezone,
                         languages=[lang for lang, _ in request.accept_languages]) if page else []
    return page_or_partial("extensions/data/index.html", "extensions/data/_rows.html", 422 if errors else 200,
                           **context, result=page, errors=errors, active=active, number=number,
                           operators=rest.OPERATORS, page_size=PAGE_SIZE, cells=cells, link_to=_link_to,
                           heading=display.heading)


def _link_to(target: str, key: str) -> str | None:
    """Return the page of the row a relationship points at: a company, partner or product, or an extension row."""
    if target in ("companies", "partners", "products"):
        return url_for("objects.detail", collection=target, object_id=key) if key.isdigit() else None
    for plugin_id, tables in runtime.current().tables.items():
        for name, other in tables.items():
            if other.physical == target:
                return url_for(".edit", plugin_id=plugin_id, table=name, row_id=key)
    return None


def _insight(plugin_id: str, table: str, status: int = 200, notes=(), errors=()):
    spec = runtime.table(plugin_id, table)
    known = set(spec.fields) | set(spec.relations)
    report = insight.report(g.access.tenant_id, plugin_id, table, spec.physical, known)
    return render_template("extensions/data/_insight.html", plugin_id=plugin_id, table=table, insight=report,
                           notes=list(notes), errors=list(errors)), status


@bp.get("/<table>/insight")
@role_required("admin")
def insight_panel(plugin_id: str, table: str):
    """Show the table's slowest REST queries and the indexes they lack."""
    return _insight(plugin_id, table)


@bp.post("/<table>/insight/index")
@role_required("admin")
def accept_index(plugin_id: str, table: str):
    """Create a suggested index as a new patch version of the extension (a normal, reversible migration)."""
    try:
        migration = insight.accept(plugin_id, table, request.form.getlist("fields"), current_user.email)
    except ValidationError as exc:
        db.session.rollback()
        return _insight(plugin_id, table, 422, errors=exc.errors)
    return _insight(plugin_id, table, notes=[f"Index created by migration {migration.migration_id}."])


@bp.get("/<table>/filter")
def add_filter(plugin_id: str, table: str):
    """Turn the filter form's column, operator and value into a column=op.value address."""
    args = MultiDict(request.args)
    column, op, value = args.pop("f_column", ""), args.pop("f_op", "eq"), args.pop("f_value", "")
    if column:
        args.add(column, f"{op}.{value}")
    return redirect(url_for(".index", plugin_id=plugin_id, table=table, **args.to_dict(flat=False)))


@bp.route("/<table>/new", methods=["GET", "POST"])
@role_required("editor")
def create(plugin_id: str, table: str):
    """Show the generated form for a new row, or create it (422 with inline messages if refused)."""
    context = _context(plugin_id, table)
    if request.method == "GET":
        defaults = {name: f["default"] for name, f in context["spec"].fields.items() if "default" in f}
        return render_template("extensions/data/form.html", **context, row=defaults, errors={}, creating=True)
    try:
        row = rest.create_row(context["spec"], _parse_form(context["spec"], request.form, creating=True))
    except ValidationError as exc:
        db.session.rollback()
        return page_or_partial("extensions/data/form.html", "extensions/data/_form.html", 422, **context,
                               row=request.form, errors=exc.by_field(), creating=True)
    db.session.commit()
    flash(f"Created {table} row.", "success")
    return redirect(url_for(".edit", plugin_id=plugin_id, table=table, row_id=row["id"]))


@bp.route("/<table>/<row_id>", methods=["GET", "POST"])
def edit(plugin_id: str, table: str, row_id: str):
    """Show one row in its form, or save changes to it (editors; 422 with inline messages if refused)."""
    context = _context(plugin_id, table)
    row = rest.get_row(context["spec"], row_id)
    if request.method == "GET":
        return render_template("extensions/data/form.html", **context, row=row, errors={}, creating=False)
    if not g.access.allows("editor"):
        return render_template("errors/error.html", status=403, message="Editing needs the editor role."), 403
    try:
        row = rest.update_row(context["spec"], row_id, _parse_form(context["spec"], request.form, creating=False))
    except ValidationError as exc:
        db.session.rollback()
        return page_or_partial("extensions/data/form.html", "extensions/data/_form.html", 422, **context,
                               row={**row, **request.form.to_dict()}, errors=exc.by_field(), creating=False)
    db.session.commit()
    flash(f"Saved {table} row.", "success")
    return redirect(url_for(".edit", plugin_id=plugin_id, table=table, row_id=row["id"]))


@bp.post("/<table>/<row_id>/delete")
@role_required("editor")
def delete(plugin_id: str, table: str, row_id: str):
    """Delete a row and go back to the list (the reason is shown if other rows still refer to it)."""
    try:
        rest.delete_row(runtime.table(plugin_id, table), row_id)
        db.session.commit()
        flash(f"Deleted {table} row.", "success")
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".edit", plugin_id=plugin_id, table=table, row_id=row_id))
    return redirect(url_for(".index", plugin_id=plugin_id, table=table))
