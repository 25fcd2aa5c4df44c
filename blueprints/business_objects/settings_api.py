"""JSON API for the business-object settings: custom field definitions, validators and the value tester.

Under `/api/t/<slug>/settings/…`, with the same rules as the settings pages: every member lists and tests
values, only admins define, change or deactivate. Refused input is a 422 with `errors: [{field, rule,
message}]`, the same errors the pages show. Cookie sessions send the CSRF token like every JSON API;
API tokens need none.

    GET   /settings/fields[?entity_type=company]        → {items: [definition…]}
    POST  /settings/fields                               → 201 definition (`required: true` adds its validator)
    GET   /settings/fields/<id>                          → definition
    PATCH /settings/fields/<id>                          → definition (label, help_text, default, options, position)
    POST  /settings/fields/<id>/deactivate               → definition
    GET   /settings/validators[?entity_type=company]    → {items: [validator…]}
    POST  /settings/validators                           → 201 validator
    PATCH /settings/validators/<id>                      → validator (config, is_active)
    POST  /settings/validators/<id>/deactivate           → validator
    POST  /settings/validators/test                      → {valid, errors} for {entity_type, field_name, value}
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask_login import current_user

from blueprints import commits, role_required, tenant_blueprint
from strata.business_objects import definitions, service
from strata.business_objects.models import ENTITY_TYPES, BusinessObjectValidator, CustomFieldDefinition
from strata.errors import FieldError, ValidationError

bp = tenant_blueprint("bo_settings_api", __name__, api=True, url_prefix="/settings")

_TEXT, _INT, _LIST, _OBJECT, _BOOL, _ANY = "text", "whole number", "list of texts", "JSON object", "true or false", ""
FIELD_KEYS = {"entity_type": _TEXT, "company_id": _INT, "name": _TEXT, "label": _TEXT, "field_type": _TEXT,
              "help_text": _TEXT, "default": _ANY, "options": _LIST, "position": _INT, "required": _BOOL}
FIELD_CHANGES = {"label": _TEXT, "help_text": _TEXT, "default": _ANY, "options": _LIST, "position": _INT}
VALIDATOR_KEYS = {"entity_type": _TEXT, "company_id": _INT, "validator_name": _TEXT, "validator_type": _TEXT,
                  "field_name": _TEXT, "config": _OBJECT}
VALIDATOR_CHANGES = {"config": _OBJECT, "is_active": _BOOL}
TEST_KEYS = {"entity_type": _TEXT, "company_id": _INT, "field_name": _TEXT, "value": _ANY}
REQUIRED_FIELD_KEYS = ("entity_type", "name", "label", "field_type")
REQUIRED_VALIDATOR_KEYS = ("entity_type", "validator_name", "validator_type")


def _fits(value: Any, kind: str) -> bool:
    if value is None or kind == _ANY:
        return True
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _LIST:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == _OBJECT:
        return isinstance(value, dict)
    return isinstance(value, bool)


def _body(shape: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return the JSON object body checked against `shape` (key → kind); raise ValidationError naming each problem."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", "The request body must be a JSON object.")
    errors = [FieldError(key, "unknown_field", f"{key!r} is not a setting here; use {', '.join(shape)}.")
              for key in body if key not in shape]
    errors += [FieldError(key, "type", f"{key} must be a {shape[key]}.")
               for key in body if key in shape and not _fits(body[key], shape[key])]
    errors += [FieldError(key, "required", f"{key} is required.") for key in required
               if body.get(key) in (None, "")]
    if errors:
        raise ValidationError(errors)
    return body


def _entity_type_arg() -> str | None:
    entity_type = request.args.get("entity_type") or None
    if entity_type is not None and entity_type not in ENTITY_TYPES:
        raise ValidationError.single("entity_type", "choice", f"entity_type must be one of {', '.join(ENTITY_TYPES)}.")
    return entity_type


def field_as_dict(definition: CustomFieldDefinition) -> dict[str, Any]:
    """Return a custom field definition as the API shows it."""
    return {"id": definition.id, "entity_type": definition.entity_type, "company_id": definition.company_id,
            "name": definition.name, "label": definition.label, "field_type": definition.field_type,
            "help_text": definition.help_text, "default": definition.default_value, "options": definition.options,
            "position": definition.position, "is_active": definition.is_active}


def validator_as_dict(row: BusinessObjectValidator) -> dict[str, Any]:
    """Return a validator as the API shows it."""
    return {"id": row.id, "entity_type": row.entity_type, "company_id": row.company_id,
            "validator_name": row.validator_name, "validator_type": row.validator_type,
            "field_name": row.field_name, "config": json.loads(row.validator_config or "{}"),
            "is_active": row.is_active}


# --- custom fields -------------------------------------------------------------------------------------------------

@bp.get("/fields")
def list_fields():
    """Return every custom field definition (active or not), optionally of one entity type."""
    wanted = _entity_type_arg()
    items = [field_as_dict(d) for entity_type in ENTITY_TYPES if wanted in (None, entity_type)
             for d in definitions.all_fields(entity_type)]
    return {"items": items}


@bp.post("/fields")
@role_required("admin")
@commits
def define_field():
    """Define a custom field (and its `required` validator when asked); 201, or 422 naming each problem."""
    body = _body(FIELD_KEYS, REQUIRED_FIELD_KEYS)
    definition = definitions.define_field(
        body["entity_type"], body["name"].strip(), body["label"], body["field_type"],
        company_id=body.get("company_id"), help_text=(body.get("help_text") or "").strip(),
        default=body.get("default"), options=body.get("options"), position=body.get("position") or 0,
        actor_id=current_user.id)
    if body.get("required"):
        definitions.define_validator(definition.entity_type, f"{definition.name}_required", "required",
                                     field_name=definition.name, company_id=definition.company_id,
                                     actor_id=current_user.id)
    return field_as_dict(definition), 201


@bp.get("/fields/<int:field_id>")
def get_field(field_id: int):
    """Return one custom field definition; 404 if this tenant has none with that id."""
    return field_as_dict(definitions.get_field(field_id))


@bp.patch("/fields/<int:field_id>")
@role_required("admin")
@commits
def update_field(field_id: int):
    """Change a field's label, help text, default, options or order; 422 naming each problem (name and type stay)."""
    definitions.get_field(field_id)
    body = _body({**FIELD_CHANGES, "name": _ANY, "field_type": _ANY})  # the domain names those two immutable
    definition = definitions.update_field(field_id, actor_id=current_user.id, **body)
    return field_as_dict(definition)


@bp.post("/fields/<int:field_id>/deactivate")
@role_required("admin")
@commits
def deactivate_field(field_id: int):
    """Hide a field from forms and validation (its stored values are kept); return it."""
    definition = definitions.deactivate_field(field_id, actor_id=current_user.id)
    return field_as_dict(definition)


# --- validators and the value tester ----------------------------------------------------------------------------

@bp.get("/validators")
def list_validators():
    """Return the tenant's validators, optionally of one entity type."""
    return {"items": [validator_as_dict(v) for v in definitions.list_validators(_entity_type_arg())]}


@bp.post("/validators")
@role_required("admin")
@commits
def define_validator():
    """Define a validator; 201, or 422 naming each problem of its name, type, target or config."""
    body = _body(VALIDATOR_KEYS, REQUIRED_VALIDATOR_KEYS)
    row = definitions.define_validator(
        body["entity_type"], body["validator_name"].strip(), body["validator_type"],
        field_name=body.get("field_name") or None, config=body.get("config") or {},
        company_id=body.get("company_id"), actor_id=current_user.id)
    return validator_as_dict(row), 201


@bp.patch("/validators/<int:validator_id>")
@role_required("admin")
@commits
def update_validator(validator_id: int):
    """Replace a validator's config and/or set its active flag; return it, 404 or 422."""
    body = _body(VALIDATOR_CHANGES)
    row = definitions.update_validator(validator_id, actor_id=current_user.id, config=body.get("config"),
                                       is_active=body.get("is_active"))
    return validator_as_dict(row)


@bp.post("/validators/<int:validator_id>/deactivate")
@role_required("admin")
@commits
def deactivate_validator(validator_id: int):
    """Stop enforcing a validator (it is kept for the record); return it."""
    row = definitions.deactivate_validator(validator_id, actor_id=current_user.id)
    return validator_as_dict(row)


@bp.post("/validators/test")
def test_value():
    """Return {valid, errors}: what the field's type and validators say about a value (nothing is saved)."""
    body = _body(TEST_KEYS, ("entity_type", "field_name"))
    if body["entity_type"] not in ENTITY_TYPES:
        raise ValidationError.single("entity_type", "choice",
                                     f"entity_type must be one of {', '.join(ENTITY_TYPES)}.")
    errors = service.test_value(body["entity_type"], body["field_name"], body.get("value"), body.get("company_id"))
    return {"valid": not errors, "errors": [e.as_dict() for e in errors]}
