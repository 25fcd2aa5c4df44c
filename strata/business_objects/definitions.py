"""Admin operations: define, change and deactivate custom fields and validators.

Each checks its input fully (a bad validator config is refused here, never at save
time), writes an audit row, and marks the tenant's config as changed so every process
reloads it once the transaction commits.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from strata import audit
from strata.business_objects import cache
from strata.business_objects.fields import (
    FIELD_TYPES,
    NUMERIC_TYPES,
    TEMPORAL_TYPES,
    TEXT_TYPES,
    FieldSpec,
    FieldValueError,
    coerce,
    to_jsonable,
)
from strata.business_objects.models import BusinessObjectValidator, Company, CustomFieldDefinition
from strata.business_objects.service import CORE_NAMES, kind_of
from strata.business_objects.validators import VALIDATOR_TYPES, compatible_kinds, parse_config, rule_level
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
FIELD_KEYS = ("label", "help_text", "default", "options", "position", "is_active")


def _check_scope(entity_type: str, company_id: int | None, errors: list[FieldError]) -> None:
    kind_of(entity_type)
    if company_id is None:
        return
    if entity_type == "product":
        errors.append(FieldError("company_id", "scope", "Products belong to no company; define product fields "
                                                        "for the whole tenant."))
    elif db.session.get(Company, company_id) is None:
        errors.append(FieldError("company_id", "exists", f"There is no company with id {company_id}."))


def _check_name(entity_type: str, name: str, company_id: int | None, errors: list[FieldError]) -> None:
    if not NAME.fullmatch(name or ""):
        errors.append(FieldError("name", "format", "Name must start with a lowercase letter and use only a-z, 0-9 "
                                                   "and _ (at most 63 characters)."))
        return
    if name in CORE_NAMES:
        errors.append(FieldError("name", "reserved", f"Name {name!r} is a built-in column; choose another."))
        return
    defs = CustomFieldDefinition
    clash = select(defs.id).where(defs.entity_type == entity_type, defs.name == name)
    if company_id is not None:
        clash = clash.where(or_(defs.company_id.is_(None), defs.company_id == company_id))
    if db.session.scalar(clash.limit(1)) is not None:
        errors.append(FieldError("name", "unique", f"A {entity_type} field named {name!r} already exists here."))


def _check_options(field_type: str, options: Any, errors: list[FieldError]) -> tuple[str, ...]:
    if field_type not in ("select", "multiselect"):
        if options:
            errors.append(FieldError("options", "not_allowed", "Only select and multiselect fields have options."))
        return ()
    if (not isinstance(options, list | tuple) or not options or len(options) > 500
            or not all(isinstance(o, str) and o.strip() and len(o) <= 255 for o in options)):
        errors.append(FieldError("options", "required", "Give a list of 1 to 500 non-empty options."))
        return ()
    cleaned = tuple(o.strip() for o in options)
    if len(set(cleaned)) != len(cleaned):
        errors.append(FieldError("options", "unique", "Options must not repeat."))
    return cleaned


def _check_texts(label: Any, help_text: Any, position: Any, errors: list[FieldError]) -> None:
    if not isinstance(label, str) or not label.strip() or len(label) > 200:
        errors.append(FieldError("label", "required", "Label is required (at most 200 characters)."))
    if not isinstance(help_text, str) or len(help_text) > 1000:
        errors.append(FieldError("help_text", "max_length", "Help text must be at most 1000 characters."))
    if isinstance(position, bool) or not isinstance(position, int) or not -10_000 <= position <= 10_000:
        errors.append(FieldError("position", "type", "Order must be a whole number between -10000 and 10000."))


def _checked_default(spec: FieldSpec, default: Any, errors: list[FieldError]) -> Any:
    try:
        return to_jsonable(coerce(spec, default))
    except FieldValueError as exc:
        errors.append(FieldError("default", exc.error.rule, "Default: " + exc.error.message))
        return None


def define_field(entity_type: str, name: str, label: str, field_type: str, *, company_id: int | None = None,
                 help_text: str = "", default: Any = None, options: list[str] | None = None, position: int = 0,
                 actor_id: int | None) -> CustomFieldDefinition:
    """Create a custom field definition; return it or raise ValidationError with every problem."""
    errors: list[FieldError] = []
    _check_scope(entity_type, company_id, errors)
    _check_name(entity_type, name, company_id, errors)
    _check_texts(label, help_text, position, errors)
    if field_type not in FIELD_TYPES:
        errors.append(FieldError("field_type", "choice", f"Type must be one of {', '.join(FIELD_TYPES)}."))
        field_type = "json"
    choices = _check_options(field_type, options, errors)
    spec = FieldSpec(name, (label or name).strip(), field_type, options=choices)
    stored_default = _checked_default(spec, default, errors)
    if errors:
        raise ValidationError(errors)
    definition = CustomFieldDefinition(
        entity_type=entity_type, company_id=company_id, name=name, label=label.strip(), field_type=field_type,
        help_text=help_text, default_value=stored_default, options=list(choices) or None, position=position,
        created_by=actor_id)
    db.session.add(definition)
    db.session.flush()
    audit.record("custom_field", definition.id, "create", actor_id, _field_state(definition, None),
                 summary=f"Defined {entity_type} field {name}")
    cache.changed()
    return definition


def _field_state(definition: CustomFieldDefinition, before: dict[str, Any] | None) -> dict[str, list[Any]]:
    now = {"entity_type": definition.entity_type, "company_id": definition.company_id, "name": definition.name,
           "label": definition.label, "field_type": definition.field_type, "help_text": definition.help_text,
           "default": definition.default_value, "options": definition.options, "position": definition.position,
           "is_active": definition.is_active}
    before = before or {}
    return {k: [before.get(k), v] for k, v in now.items() if before.get(k) != v}


def get_field(field_id: int) -> CustomFieldDefinition:
    """Return the custom field definition with `field_id`; raise NotFound."""
    found = db.session.get(CustomFieldDefinition, field_id)
    if found is None:
        raise NotFound(f"no custom field with id {field_id}")
    return found


def update_field(field_id: int, *, actor_id: int | None, **changes: Any) -> CustomFieldDefinition:
    """Change label, help text, default, options, order or active flag (name and type are fixed)."""
    definition = get_field(field_id)
    errors = [FieldError(k, "immutable" if k in ("name", "field_type") else "unknown_field",
                         f"{k!r} cannot be changed.") for k in changes if k not in FIELD_KEYS]
    merged = {"label": definition.label, "help_text": definition.help_text, "position": definition.position,
              "options": definition.options, "default": definition.default_value, **changes}
    _check_texts(merged["label"], merged["help_text"], merged["position"], errors)
    choices = _check_options(definition.field_type, merged["options"], errors)
    spec = FieldSpec(definition.name, definition.label, definition.field_type, options=choices)
    stored_default = _checked_default(spec, merged["default"], errors)
    if not isinstance(changes.get("is_active", True), bool):
        errors.append(FieldError("is_active", "type", "Active must be true or false."))
    if errors:
        raise ValidationError(errors)
    before = _field_state(definition, None)
    before = {k: v[1] for k, v in before.items()}
    definition.label, definition.help_text = merged["label"].strip(), merged["help_text"]
    definition.position, definition.options = merged["position"], list(choices) or None
    definition.default_value = stored_default
    definition.is_active = changes.get("is_active", definition.is_active)
    db.session.flush()
    diff = _field_state(definition, before)
    if diff:
        audit.record("custom_field", definition.id, "update", actor_id, diff,
                     summary=f"Changed {definition.entity_type} field {definition.name}")
        cache.changed()
    return definition


def deactivate_field(field_id: int, *, actor_id: int | None) -> CustomFieldDefinition:
    """Hide a custom field from forms and validation; its stored values are kept."""
    return update_field(field_id, actor_id=actor_id, is_active=False)


def list_fields(entity_type: str, company_id: int | None = None, *, include_inactive: bool = False,
                only_company: bool = False) -> list[CustomFieldDefinition]:
    """Return the field definitions of `entity_type` that apply under `company_id`, in display order."""
    defs = CustomFieldDefinition
    query = select(defs).where(defs.entity_type == entity_type)
    if only_company:
        query = query.where(defs.company_id == company_id if company_id is not None else defs.company_id.is_(None))
    else:
        query = query.where(or_(defs.company_id.is_(None), defs.company_id == company_id))
    if not include_inactive:
        query = query.where(defs.is_active)
    return list(db.session.scalars(query.order_by(defs.position, defs.label, defs.id)))


def all_fields(entity_type: str) -> list[CustomFieldDefinition]:
    """Return every definition of `entity_type`, tenant-wide and per company, active ones first."""
    defs = CustomFieldDefinition
    query = select(defs).where(defs.entity_type == entity_type)
    return list(db.session.scalars(query.order_by(defs.is_active.desc(), defs.position, defs.label, defs.id)))


def _field_types_in_scope(entity_type: str, company_id: int | None) -> dict[str, str]:
    kind = kind_of(entity_type)
    types = {f.name: f.field_type for f in kind.fields}
    types.update({d.name: d.field_type for d in list_fields(entity_type, company_id)})
    return types


def _same_family(a: str, b: str) -> bool:
    return a == b or (a in NUMERIC_TYPES and b in NUMERIC_TYPES) or (a in TEMPORAL_TYPES and b in TEMPORAL_TYPES)


def _check_target(validator_type: str, config: Any, field_name: str | None, types: dict[str, str],
                  errors: list[FieldError]) -> None:
    level = rule_level(validator_type, config)
    if level == "entity":
        if field_name is not None:
            errors.append(FieldError("field_name", "not_allowed", "This rule spans fields; leave the field empty."))
        names = [config.left, config.right] if getattr(config, "rule", "") == "compare" else config.fields
        for name in names:
            if name not in types:
                errors.append(FieldError("validator_config", "unknown_field", f"No field named {name!r} here."))
        if getattr(config, "rule", "") == "compare" and not errors and not _same_family(
                types[config.left], types[config.right]):
            errors.append(FieldError("validator_config", "type", "Only fields of the same kind can be compared."))
        return
    if field_name is None or field_name not in types:
        errors.append(FieldError("field_name", "unknown_field", f"Choose a field of this entity (got {field_name!r})."))
        return
    field_type = types[field_name]
    if validator_type == "range" and config.kind not in compatible_kinds(field_type):
        errors.append(FieldError("validator_config", "type",
                                 f"A {config.kind} range does not apply to a {field_type} field."))
    if validator_type == "format" and field_type not in (*TEXT_TYPES, "multiselect"):
        errors.append(FieldError("validator_config", "type", f"A format rule does not apply to a {field_type} field."))


def _parsed_config(validator_type: str, config: dict[str, Any] | None, errors: list[FieldError]):
    if validator_type not in VALIDATOR_TYPES:
        errors.append(FieldError("validator_type", "choice", f"Type must be one of {', '.join(VALIDATOR_TYPES)}."))
        return None
    try:
        return parse_config(validator_type, config)
    except ValueError as exc:
        errors.append(FieldError("validator_config", "invalid", f"Config is invalid: {exc}."))
        return None


def define_validator(entity_type: str, validator_name: str, validator_type: str, *, field_name: str | None = None,
                     config: dict[str, Any] | None = None, company_id: int | None = None,
                     actor_id: int | None) -> BusinessObjectValidator:
    """Create a validator after checking its config and target; return it or raise ValidationError."""
    errors: list[FieldError] = []
    _check_scope(entity_type, company_id, errors)
    if not isinstance(validator_name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,99}", validator_name):
        errors.append(FieldError("validator_name", "format", "Name must start with a lowercase letter and use only "
                                                             "a-z, 0-9 and _ (at most 100 characters)."))
    parsed = _parsed_config(validator_type, config, errors)
    if parsed is not None and not errors:
        _check_target(validator_type, parsed, field_name, _field_types_in_scope(entity_type, company_id), errors)
    if errors:
        raise ValidationError(errors)
    row = BusinessObjectValidator(entity_type=entity_type, company_id=company_id, validator_name=validator_name,
                                  validator_type=validator_type, field_name=field_name,
                                  validator_config=json.dumps(config or {}, sort_keys=True), created_by=actor_id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError as exc:
        raise ValidationError.single("validator_name", "unique",
                                     f"A validator named {validator_name!r} already exists here.") from exc
    audit.record("validator", row.id, "create", actor_id, _validator_state(row, {}),
                 summary=f"Defined {validator_type} validator {validator_name}")
    cache.changed()
    return row


def _validator_state(row: BusinessObjectValidator, before: dict[str, Any]) -> dict[str, list[Any]]:
    now = {"entity_type": row.entity_type, "company_id": row.company_id, "validator_name": row.validator_name,
           "validator_type": row.validator_type, "field_name": row.field_name,
           "validator_config": json.loads(row.validator_config or "{}"), "is_active": row.is_active}
    return {k: [before.get(k), v] for k, v in now.items() if before.get(k) != v}


def update_validator(validator_id: int, *, actor_id: int | None, config: dict[str, Any] | None = None,
                     is_active: bool | None = None) -> BusinessObjectValidator:
    """Replace a validator's config and/or set its active flag; raise NotFound or ValidationError."""
    row = db.session.get(BusinessObjectValidator, validator_id)
    if row is None:
        raise NotFound(f"no validator with id {validator_id}")
    errors: list[FieldError] = []
    if config is not None:
        parsed = _parsed_config(row.validator_type, config, errors)
        if parsed is not None:
            types = _field_types_in_scope(row.entity_type, row.company_id)
            _check_target(row.validator_type, parsed, row.field_name, types, errors)
    if is_active is not None and not isinstance(is_active, bool):
        errors.append(FieldError("is_active", "type", "Active must be true or false."))
    if errors:
        raise ValidationError(errors)
    before = {k: v[1] for k, v in _validator_state(row, {}).items()}
    if config is not None:
        row.validator_config = json.dumps(config, sort_keys=True)
    if is_active is not None:
        row.is_active = is_active
    db.session.flush()
    diff = _validator_state(row, before)
    if diff:
        audit.record("validator", row.id, "update", actor_id, diff, summary=f"Changed validator {row.validator_name}")
        cache.changed()
    return row


def deactivate_validator(validator_id: int, *, actor_id: int | None) -> BusinessObjectValidator:
    """Stop enforcing a validator (kept for the record)."""
    return update_validator(validator_id, actor_id=actor_id, is_active=False)


def list_validators(entity_type: str | None = None) -> list[BusinessObjectValidator]:
    """Return the tenant's validators, optionally of one entity type, by name."""
    query = select(BusinessObjectValidator)
    if entity_type is not None:
        query = query.where(BusinessObjectValidator.entity_type == entity_type)
    return list(db.session.scalars(query.order_by(BusinessObjectValidator.entity_type,
                                                  BusinessObjectValidator.validator_name)))
