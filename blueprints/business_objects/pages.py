"""Pages for companies, partners and products: list (search, typed filters, sort, pages), create, detail.

One set of views serves the three collections (`/t/<slug>/<collection>/…`). Members of every role
read; editors and admins create, edit values inline and delete. Refused input comes back as the
form (or the edited value) with the domain's messages and status 422, and nothing is written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response
from werkzeug.datastructures import MultiDict

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata import audit, pickers
from strata import filters as flt
from strata.accounts.service import member_names
from strata.business_objects import cache, query, service
from strata.business_objects import dashboard as _cards  # noqa: F401  (registers the dashboard cards)
from strata.business_objects.fields import FieldSpec
from strata.db import db
from strata.errors import ValidationError
from strata.streams import resources
from strata.streams import service as stream_service

bp = tenant_blueprint("objects", __name__)

COLLECTION = "<any(companies, partners, products):collection>"
ENTITY_OF = {"companies": "company", "partners": "partner", "products": "product"}
TITLES = {"companies": "Companies", "partners": "Partners", "products": "Products"}
RESERVED = frozenset({"q", "sort", "page", "f_field", "f_op", "f_value"})
INPUT_TYPES = {"integer": "number", "decimal": "text", "date": "date", "email": "email", "url": "url"}
OTHER = "__all__"
SYSTEM = (FieldSpec("id", "Id", "integer"), FieldSpec("created_at", "Created", "datetime"),
          FieldSpec("updated_at", "Updated", "datetime"))


# --- helpers ------------------------------------------------------------------------------------------------------

def _company_names(entity_type: str, objects) -> dict[int, str]:
    """Return the names of the companies the partners shown belong to."""
    if entity_type != "partner":
        return {}
    return pickers.company_names(getattr(o, "company_id", None) for o in objects)


def _base(collection: str) -> dict[str, Any]:
    entity_type = ENTITY_OF[collection]
    return {"collection": collection, "entity_type": entity_type, "title": TITLES[collection], "singular": entity_type,
            "kind": service.KINDS[entity_type], "input_types": INPUT_TYPES}


def _errors(exc: ValidationError, inputs: set[str]) -> dict[str, list[str]]:
    """Undo anything flushed before the refusal; return messages by input (the rest under OTHER)."""
    db.session.rollback()
    grouped: dict[str, list[str]] = {}
    for name, messages in exc.by_field().items():
        grouped.setdefault(name if name in inputs else OTHER, []).extend(messages)
    return grouped


def _raw(spec: FieldSpec, source) -> Any:
    """Return the submitted value of `spec` from a form (a list for multiselect)."""
    if spec.field_type == "multiselect":
        return source.getlist(spec.name)
    return source.get(spec.name, "")


# --- list ---------------------------------------------------------------------------------------------------------

def _filters(args) -> tuple[list[tuple[str, str]], list[query.Filter], list]:
    """Return the (name, text) filter params, the parsed filters and any parse errors."""
    params, parsed, errors = [], [], []
    for name in args:
        if name in RESERVED:
            continue
        for text in args.getlist(name):
            params.append((name, text))
            try:
                parsed.append(query.parse_filter(name, text))
            except ValidationError as exc:
                errors.extend(exc.errors)
    return params, parsed, errors


def _list_url(collection: str, params: list[tuple[str, str]], **changes: Any) -> str:
    """Return the list URL with the filter `params` and `changes` to q/sort/page (None drops one)."""
    state = {"q": request.args.get("q", ""), "sort": request.args.get("sort", ""), **changes}
    pairs = [(k, v) for k, v in state.items() if v] + params
    base = url_for(".index", collection=collection)
    return f"{base}?{urlencode(pairs)}" if pairs else base


def _list_context(collection: str, params, filters, errors) -> tuple[dict[str, Any], int]:
    ctx = _base(collection)
    entity_type = ctx["entity_type"]
    sort_text = request.args.get("sort", "")
    page_no = request.args.get("page", "1")
    page_no = int(page_no) if page_no.isdigit() and int(page_no) > 0 else 1
    custom = cache.current().fields_for(entity_type, None)
    page, status = None, 200
    if not errors:
        try:
            page = query.list_objects(entity_type, q=request.args.get("q"), filters=filters,
                                      sort=query.parse_sort(sort_text), offset=(page_no - 1) * query.DEFAULT_LIMIT)
        except ValidationError as exc:
            errors = exc.errors
    if errors:
        status = 422
    core = list(ctx["kind"].fields)
    sort_keys = query.parse_sort(sort_text)
    ctx.update(results=page, page_no=page_no, core=core, custom=custom, errors=[e.message for e in errors],
               params=params, q=request.args.get("q", ""), sort=sort_keys[0] if sort_keys else None,
               company_names=_company_names(entity_type, page.rows if page else []),
               filter_fields=[*SYSTEM, *core, *custom], operators=flt.FORM_OPERATORS,
               list_url=lambda **changes: _list_url(collection, params, **changes),
               without=lambda i: _list_url(collection, params[:i] + params[i + 1:], page=None))
    return ctx, status


@bp.get(f"/{COLLECTION}/")
def index(collection: str):
    """List one collection (the table partial for htmx); an "add filter" submission redirects to its URL."""
    params, filters, errors = _filters(request.args)
    field_name = request.args.get("f_field", "").strip()
    if field_name:
        op, value = request.args.get("f_op", "eq"), request.args.get("f_value", "")
        text = flt.expression(op, value)
        target = _list_url(collection, [*params, (field_name, text)], page=None)
        if not request.htmx:
            return redirect(target)
        params, filters, errors = _filters(_args_of(target))
        ctx, status = _list_context(collection, params, filters, errors)
        body = render_template("business_objects/objects/_table.html", **ctx)
        return make_response(body, status, {"Vary": "HX-Request"}, push_url=target)
    ctx, status = _list_context(collection, params, filters, errors)
    return page_or_partial("business_objects/objects/index.html", "business_objects/objects/_table.html",
                           status, **ctx)


def _args_of(url: str) -> MultiDict:
    return MultiDict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


# --- create -------------------------------------------------------------------------------------------------------

def _form_context(collection: str, form, errors: dict | None = None) -> dict[str, Any]:
    ctx = _base(collection)
    company_id = None
    if ctx["entity_type"] == "partner":
        raw = str(form.get("company_id", "")).strip()
        company_id = int(raw) if raw.isdigit() else None
    ctx.update(form=form, errors=errors or {}, company_label=pickers.company_label(company_id),
               custom=cache.current().fields_for(ctx["entity_type"], company_id))
    return ctx


@bp.get(f"/{COLLECTION}/new")
@role_required("editor")
def new(collection: str):
    """Show the create form; htmx (company changed) gets just the form with that company's fields."""
    return page_or_partial("business_objects/objects/form.html", "business_objects/objects/_form.html",
                           **_form_context(collection, request.args))


@bp.post(f"/{COLLECTION}/new")
@role_required("editor")
def create(collection: str):
    """Create an object with its custom values; 422 with the form's inline errors and nothing written."""
    ctx = _form_context(collection, request.form)
    kind, specs = ctx["kind"], ctx["custom"]
    values = {s.name: _raw(s, request.form) for s in kind.fields}
    # Left empty: omitted, so the field's default (if any) applies as the domain defines.
    custom = {s.name: raw for s in specs if (raw := _raw(s, request.form)) not in ("", [])}
    try:
        obj = service.create(ctx["entity_type"], values, custom, actor_id=current_user.id)
    except ValidationError as exc:
        ctx["errors"] = _errors(exc, {s.name for s in (*kind.fields, *specs)})
        return page_or_partial("business_objects/objects/form.html", "business_objects/objects/_form.html",
                               422, **ctx)
    db.session.commit()
    flash(f"{ctx['singular'].capitalize()} {obj.name} created.", "success")
    target = url_for(".detail", collection=collection, object_id=obj.id)
    return make_response(redirect=target) if request.htmx else redirect(target)


# --- detail, inline edit, delete ----------------------------------------------------------------------------------

def _specs(ctx: dict[str, Any], obj) -> tuple[list[FieldSpec], list[FieldSpec]]:
    """Return the core and custom field specs that apply to `obj`."""
    custom = cache.current().fields_for(ctx["entity_type"], service.company_scope(ctx["entity_type"], obj))
    return list(ctx["kind"].fields), custom


def _history(entity_type: str, object_id: int) -> list[dict[str, Any]]:
    """Return the object's audit rows, newest first, with who made each change."""
    rows = audit.history(entity_type, object_id)
    ids = {r.user_id for r in rows if r.user_id is not None}
    users = member_names(ids)
    return [{"row": r, "who": users.get(r.user_id, "a former member" if r.user_id else "system")} for r in rows]


def _value_context(collection: str, object_id: int, name: str) -> dict[str, Any]:
    ctx = _base(collection)
    obj = service.get(ctx["entity_type"], object_id)
    core, custom = _specs(ctx, obj)
    spec = next((s for s in (*core, *custom) if s.name == name), None)
    if spec is None:
        abort(404)
    value = getattr(obj, name) if not spec.is_custom else service.custom_values(
        ctx["entity_type"], obj.id, custom).get(name)
    ctx.update(obj=obj, spec=spec, value=value, errors=[], raw=None,
               company_names=_company_names(ctx["entity_type"], [obj]))
    return ctx


@bp.get(f"/{COLLECTION}/<int:object_id>")
def detail(collection: str, object_id: int):
    """Show an object's core and custom values (click a value to edit it) and its history."""
    ctx = _base(collection)
    obj = service.get(ctx["entity_type"], object_id)
    core, custom = _specs(ctx, obj)
    values = {s.name: getattr(obj, s.name) for s in core}
    values.update(service.custom_values(ctx["entity_type"], obj.id, custom))
    ctx.update(obj=obj, core=core, custom=custom, values=values, history=_history(ctx["entity_type"], obj.id),
               company_names=_company_names(ctx["entity_type"], [obj]))
    if ctx["entity_type"] == "company":  # what the Companies House streams say about it
        ctx.update(stream_changes=stream_service.company_history(obj.company_number),
                   stream_resources=resources.company_resources(obj.company_number))
    return render_template("business_objects/objects/detail.html", **ctx)


@bp.get(f"/{COLLECTION}/<int:object_id>/values/<name>")
def value(collection: str, object_id: int, name: str):
    """Return one value cell (cancels an inline edit); plain requests go to the detail page."""
    ctx = _value_context(collection, object_id, name)
    if not request.htmx:
        return redirect(url_for(".detail", collection=collection, object_id=object_id))
    return render_template("business_objects/objects/_value.html", **ctx)


@bp.get(f"/{COLLECTION}/<int:object_id>/values/<name>/edit")
@role_required("editor")
def edit_value(collection: str, object_id: int, name: str):
    """Return one value cell as an inline edit form."""
    ctx = _value_context(collection, object_id, name)
    if name == "company_id" or not request.htmx:  # a partner's company is fixed
        return redirect(url_for(".detail", collection=collection, object_id=object_id))
    return render_template("business_objects/objects/_value_edit.html", **ctx)


@bp.post(f"/{COLLECTION}/<int:object_id>/values/<name>")
@role_required("editor")
def save_value(collection: str, object_id: int, name: str):
    """Save one value; return the cell (and the refreshed history), or the edit form with its error (422)."""
    ctx = _value_context(collection, object_id, name)
    spec, raw = ctx["spec"], _raw(ctx["spec"], request.form)
    core, custom = ({name: raw}, None) if not spec.is_custom else (None, {name: raw})
    try:
        service.update(ctx["entity_type"], object_id, core, custom, actor_id=current_user.id)
    except ValidationError as exc:
        messages = [m for msgs in _errors(exc, set()).values() for m in msgs]
        ctx.update(errors=messages, raw=raw)
        if not request.htmx:
            flash(" ".join(messages), "error")
            return redirect(url_for(".detail", collection=collection, object_id=object_id))
        return render_template("business_objects/objects/_value_edit.html", **ctx), 422
    db.session.commit()
    if not request.htmx:
        return redirect(url_for(".detail", collection=collection, object_id=object_id))
    ctx = _value_context(collection, object_id, name)
    ctx.update(history=_history(ctx["entity_type"], object_id), oob=True)
    return render_template("business_objects/objects/_value.html", **ctx)


@bp.post(f"/{COLLECTION}/<int:object_id>/delete")
@role_required("editor")
def delete(collection: str, object_id: int):
    """Delete an object (after the browser's confirm) and go back to the list."""
    ctx = _base(collection)
    obj = service.get(ctx["entity_type"], object_id)
    name = obj.name
    try:
        service.delete_object(ctx["entity_type"], object_id, actor_id=current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        target = url_for(".detail", collection=collection, object_id=object_id)
    else:
        db.session.commit()
        flash(f"{ctx['singular'].capitalize()} {name} deleted.", "success")
        target = url_for(".index", collection=collection)
    return make_response(redirect=target) if request.htmx else redirect(target)
