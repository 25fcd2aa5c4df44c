"""Settings pages for business objects: custom field definitions, validators, and a value tester.

Members of every role see the lists and may try values; only admins change anything.
Refused input comes back as the form (or the edited row) with its messages and status 422.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata import pickers
from strata.business_objects import definitions, service
from strata.business_objects.fields import FIELD_TYPES
from strata.business_objects.models import ENTITY_TYPES
from strata.business_objects.validators import VALIDATOR_TYPES
from strata.db import db
from strata.errors import FieldError, ValidationError

bp = tenant_blueprint("bo_admin", __name__, url_prefix="/settings")

ENTITY_LABELS = {"company": "Companies", "partner": "Partners", "product": "Products"}
FIELD_INPUTS = frozenset({"entity_type", "company_id", "name", "label", "field_type", "help_text", "default",
                          "options", "position"})
ROW_INPUTS = frozenset({"label", "help_text", "default", "options", "position"})
VALIDATOR_INPUTS = frozenset({"entity_type", "company_id", "validator_name", "validator_type", "field_name",
                              "config"})
OTHER = "__all__"  # errors no input owns, shown at the top of the form


# --- small helpers: parse form text, group domain errors by input -------------------------------------------------

def _errors_for(exc: ValidationError, inputs: frozenset[str], aliases: dict[str, str] | None = None) -> dict:
    """Return the messages by form input; those no input owns go under OTHER."""
    grouped: dict[str, list[str]] = {}
    for error in exc.errors:
        key = (aliases or {}).get(error.field, error.field)
        grouped.setdefault(key if key in inputs else OTHER, []).append(error.message)
    return grouped


def _company_id(raw: str) -> int | None:
    """Return the chosen company id (None for "All companies"); raise ValidationError for junk."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError.single("company_id", "type", "Choose a company from the list.")
    return int(raw)


def _position(raw: str) -> int | str:
    """Return the order as an int, or the raw text so the domain refuses it with its own message."""
    raw = raw.strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        return raw


def _options(raw: str) -> list[str] | None:
    return [line.strip() for line in raw.splitlines() if line.strip()] or None


def _default(raw: str, field_type: str) -> Any:
    if field_type == "multiselect" and raw.strip():
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _config(raw: str) -> dict[str, Any]:
    """Return the validator config parsed from JSON text; raise ValidationError naming the JSON problem."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError.single("config", "json", f"Config must be valid JSON: {exc.msg} "
                                                       f"(line {exc.lineno}, column {exc.colno}).") from None
    if not isinstance(parsed, dict):
        raise ValidationError.single("config", "json", 'Config must be a JSON object, like {"kind": "email"}.')
    return parsed


def _refused(exc: ValidationError, inputs: frozenset[str], aliases: dict[str, str] | None = None) -> dict:
    """Undo anything flushed before the refusal and return the errors by input."""
    db.session.rollback()
    return _errors_for(exc, inputs, aliases)


def _done(message: str, page: str, render):
    """Commit, flash `message`, then re-render for htmx or redirect to `page` (post/redirect/get)."""
    db.session.commit()
    flash(message, "success")
    return render() if request.htmx else redirect(url_for(page))


# --- reads the domain does not offer (yet) ------------------------------------------------------------------------

def _field_choices(entity_type: str, company_id: int | None) -> list[tuple[str, str]]:
    """Return (name, label) of the core and active custom fields of `entity_type` under `company_id`."""
    kind = service.KINDS.get(entity_type)
    if kind is None:
        return []
    custom = definitions.list_fields(entity_type, company_id)
    return [(f.name, f.label) for f in kind.fields] + [(d.name, d.label) for d in custom]


def _required_fields() -> set[tuple[str, int | None, str]]:
    return {(v.entity_type, v.company_id, v.field_name) for v in definitions.list_validators()
            if v.validator_type == "required" and v.is_active and v.field_name}


# --- custom fields -------------------------------------------------------------------------------------------------

def _fields_context(**extra) -> dict[str, Any]:
    by_type = {et: definitions.all_fields(et) for et in ENTITY_TYPES}
    form = extra.get("form") or {}
    shown = [d.company_id for defs in by_type.values() for d in defs]
    return {"fields_by_type": by_type, "entity_labels": ENTITY_LABELS,
            "entity_types": ENTITY_TYPES, "field_types": FIELD_TYPES,
            "company_label": pickers.company_label(form.get("company_id")),
            "company_names": pickers.company_names(shown), "required": _required_fields(), "errors": {}, "form": {},
            "editing": None, "row_errors": {}, "row_form": {}, **extra}


def _fields_page(status: int = 200, partial: str = "business_objects/_fields.html", **extra):
    return page_or_partial("business_objects/fields.html", partial, status, **_fields_context(**extra))


def _field_form_refused(errors: dict, form: dict):
    if not request.htmx:
        return _fields_page(422, errors=errors, form=form)
    body = render_template("business_objects/_field_form.html", **_fields_context(errors=errors, form=form))
    return make_response(body, 422, retarget="#field-form", reswap="outerHTML")


def _row(field_id: int, status: int = 200, **extra):
    """Render one field's table row (display or edit mode)."""
    found = definitions.get_field(field_id)
    context = {"f": found, "company_names": pickers.company_names([found.company_id]),
               "required": _required_fields(), "editing": None, "row_errors": {}, "row_form": {}, **extra}
    return render_template("business_objects/_field_row.html", **context), status, {"Vary": "HX-Request"}


@bp.get("/fields")
def fields():
    """List the custom field definitions of each entity type (admins also get the form to define one)."""
    return _fields_page()


@bp.post("/fields")
@role_required("admin")
def define_field():
    """Define a custom field (and its `required` validator when ticked); 422 with the form's errors."""
    form = {key: request.form.get(key, "") for key in FIELD_INPUTS}
    form["required"] = bool(request.form.get("required"))
    try:
        company_id = _company_id(form["company_id"])
        definition = definitions.define_field(
            form["entity_type"], form["name"].strip(), form["label"], form["field_type"], company_id=company_id,
            help_text=form["help_text"].strip(), default=_default(form["default"], form["field_type"]),
            options=_options(form["options"]), position=_position(form["position"]), actor_id=current_user.id)
        if form["required"]:
            definitions.define_validator(definition.entity_type, f"{definition.name}_required", "required",
                                         field_name=definition.name, company_id=company_id, actor_id=current_user.id)
    except ValidationError as exc:
        return _field_form_refused(_refused(exc, FIELD_INPUTS), form)
    return _done(f"Field {definition.label} defined for {ENTITY_LABELS[definition.entity_type].lower()}.",
                 ".fields", _fields_page)


@bp.get("/fields/<int:field_id>")
def field_row(field_id: int):
    """Return one field's row (htmx: cancels an edit); plain requests go to the list."""
    definitions.get_field(field_id)
    return _row(field_id) if request.htmx else redirect(url_for(".fields"))


@bp.get("/fields/<int:field_id>/edit")
@role_required("admin")
def edit_field(field_id: int):
    """Return the field's row as an inline edit form (the whole page without htmx)."""
    if not definitions.get_field(field_id).is_active:  # nothing to edit on a hidden field
        return _row(field_id) if request.htmx else redirect(url_for(".fields"))
    return _row(field_id, editing=field_id) if request.htmx else _fields_page(editing=field_id)


@bp.post("/fields/<int:field_id>")
@role_required("admin")
def update_field(field_id: int):
    """Change a field's label, help text, default, options or order; 422 with the row's errors."""
    definition = definitions.get_field(field_id)
    form = {key: request.form.get(key, "") for key in ROW_INPUTS}
    changes = {"label": form["label"], "help_text": form["help_text"].strip(), "position": _position(form["position"]),
               "default": _default(form["default"], definition.field_type)}
    if definition.field_type in ("select", "multiselect"):
        changes["options"] = _options(form["options"])
    try:
        definitions.update_field(field_id, actor_id=current_user.id, **changes)
    except ValidationError as exc:
        errors = _refused(exc, ROW_INPUTS)
        if request.htmx:
            return _row(field_id, 422, editing=field_id, row_errors=errors, row_form=form)
        return _fields_page(422, editing=field_id, row_errors=errors, row_form=form)
    return _done(f"Field {form['label'].strip()} saved.", ".fields", lambda: _row(field_id))


@bp.post("/fields/<int:field_id>/deactivate")
@role_required("admin")
def deactivate_field(field_id: int):
    """Hide a field from forms and validation (its stored values are kept)."""
    definition = definitions.deactivate_field(field_id, actor_id=current_user.id)
    return _done(f"Field {definition.label} deactivated; its stored values are kept.", ".fields",
                 lambda: _row(field_id))


# --- validators and the value tester ----------------------------------------------------------------------------

def _validator_form_values(source) -> dict[str, str]:
    form = {key: source.get(key, "") for key in VALIDATOR_INPUTS}
    form["entity_type"] = form["entity_type"] or ENTITY_TYPES[0]
    return form


def _test_form_values(source) -> dict[str, str]:
    form = {key: source.get(key, "") for key in ("entity_type", "company_id", "field_name", "value")}
    form["entity_type"] = form["entity_type"] if form["entity_type"] in ENTITY_TYPES else ENTITY_TYPES[0]
    return form


def _choices_for(form: dict[str, str]) -> list[tuple[str, str]]:
    company_id = int(form["company_id"]) if form["company_id"].isdigit() else None
    return _field_choices(form["entity_type"], company_id)


def _validators_context(**extra) -> dict[str, Any]:
    form = extra.pop("form", None) or _validator_form_values({})
    test = extra.pop("test", None) or _test_form_values({})
    validators = definitions.list_validators()
    return {"validators": validators, "entity_types": ENTITY_TYPES, "validator_types": VALIDATOR_TYPES,
            "company_label": pickers.company_label(form["company_id"]),
            "test_company_label": pickers.company_label(test["company_id"]),
            "company_names": pickers.company_names([v.company_id for v in validators]),
            "form": form, "field_choices": _choices_for(form), "errors": {}, "test": test,
            "test_choices": _choices_for(test), "results": None, **extra}


def _validators_page(status: int = 200, partial: str = "business_objects/_validators.html", **extra):
    return page_or_partial("business_objects/validators.html", partial, status, **_validators_context(**extra))


@bp.get("/validators")
def validators():
    """List the tenant's validators, the form to define one and the value tester."""
    return _validators_page()


@bp.get("/validators/form")
def validator_form():
    """Re-render the validator form for the chosen entity type and company (keeps the other inputs)."""
    return _validators_page(partial="business_objects/_validator_form.html", form=_validator_form_values(request.args))


@bp.post("/validators")
@role_required("admin")
def define_validator():
    """Define a validator from the form's JSON config; 422 with the form's errors."""
    form = _validator_form_values(request.form)
    try:
        row = definitions.define_validator(
            form["entity_type"], form["validator_name"].strip(), form["validator_type"],
            field_name=form["field_name"] or None, config=_config(form["config"]),
            company_id=_company_id(form["company_id"]), actor_id=current_user.id)
    except ValidationError as exc:
        errors = _refused(exc, VALIDATOR_INPUTS, {"validator_config": "config"})
        if not request.htmx:
            return _validators_page(422, form=form, errors=errors)
        body = render_template("business_objects/_validator_form.html",
                               **_validators_context(form=form, errors=errors))
        return make_response(body, 422, retarget="#validator-form", reswap="outerHTML")
    return _done(f"Validator {row.validator_name} defined.", ".validators", _validators_page)


@bp.post("/validators/<int:validator_id>/deactivate")
@role_required("admin")
def deactivate_validator(validator_id: int):
    """Stop enforcing a validator (it is kept for the record)."""
    row = definitions.deactivate_validator(validator_id, actor_id=current_user.id)
    return _done(f"Validator {row.validator_name} deactivated.", ".validators", _validators_page)


@bp.get("/validators/test")
def test_box():
    """Re-render the value tester for the chosen entity type and company."""
    return _validators_page(partial="business_objects/_test_box.html", test=_test_form_values(request.args))


@bp.post("/validators/test")
def test_value():
    """Return what the field's type and validators say about a value (nothing is saved)."""
    test = _test_form_values(request.form)
    try:
        company_id = _company_id(test["company_id"])
        if not test["field_name"]:
            raise ValidationError.single("field_name", "required", "Choose a field to test.")
        results: list[FieldError] = service.test_value(test["entity_type"], test["field_name"], test["value"],
                                                       company_id)
    except ValidationError as exc:
        results = exc.errors
    if request.htmx:
        return render_template("business_objects/_test_result.html", results=results, test=test)
    return _validators_page(test=test, results=results)

