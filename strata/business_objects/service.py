"""Create, update and delete companies, partners and products with their custom field values.

Every write validates everything first (core columns, custom field types, field and
entity-level validators) and raises one `ValidationError` carrying all the errors, having
written nothing. On success it writes the row, its extension rows and an audit row with
the changed fields as {field: [old, new]}. Functions run inside a tenant scope and leave
committing to it (`tenant_context` commits when its block ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from strata import audit, limits
from strata.business_objects import cache, validators
from strata.business_objects.fields import FieldSpec, FieldValueError, coerce, deserialise, serialise, to_jsonable
from strata.business_objects.models import ENTITY_TYPES, MODELS, BusinessObjectExtension, Company, Partner
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError


@dataclass(frozen=True)
class Kind:
    """The core columns of one business object type."""

    entity_type: str
    fields: tuple[FieldSpec, ...]
    required: frozenset[str]
    unique: frozenset[str]

    @property
    def model(self):
        return MODELS[self.entity_type]

    def spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


KINDS = {
    "company": Kind("company", (
        FieldSpec("name", "Name", "string", max_length=200),
        FieldSpec("company_number", "Company number", "string", max_length=20),
    ), frozenset({"name"}), frozenset({"company_number"})),
    "partner": Kind("partner", (
        FieldSpec("company_id", "Company", "integer"),
        FieldSpec("name", "Name", "string", max_length=200),
        FieldSpec("email", "Email", "email"),
    ), frozenset({"company_id", "name"}), frozenset()),
    "product": Kind("product", (
        FieldSpec("name", "Name", "string", max_length=200),
        FieldSpec("sku", "SKU", "string", max_length=64),
        FieldSpec("price", "Price", "decimal"),
    ), frozenset({"name"}), frozenset({"sku"})),
}
CORE_NAMES = {name for kind in KINDS.values() for name in (f.name for f in kind.fields)} | {
    "id", "framework_version", "created_by", "created_at", "updated_at"}


def kind_of(entity_type: str) -> Kind:
    """Return the Kind of `entity_type`; raise ValidationError for an unknown type."""
    if entity_type not in KINDS:
        raise ValidationError.single("entity_type", "choice", f"Entity type must be one of {', '.join(ENTITY_TYPES)}.")
    return KINDS[entity_type]


def get(entity_type: str, object_id: int):
    """Return the object of `entity_type` with `object_id`; raise NotFound."""
    found = db.session.get(kind_of(entity_type).model, object_id)
    if found is None:
        raise NotFound(f"no {entity_type} with id {object_id}")
    return found


def company_scope(entity_type: str, obj_or_values: Any) -> int | None:
    """Return the company whose fields and validators apply to an object (None: tenant-wide only)."""
    if entity_type == "company":
        return getattr(obj_or_values, "id", None)
    if entity_type == "partner":
        if isinstance(obj_or_values, dict):
            return obj_or_values.get("company_id")
        return obj_or_values.company_id
    return None


def _coerce_core(kind: Kind, values: dict[str, Any], creating: bool) -> tuple[dict[str, Any], list[FieldError]]:
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in values:
        if kind.spec(name) is None:
            errors.append(FieldError(name, "unknown_field", f"{name!r} is not a column of a {kind.entity_type}."))
    for spec in kind.fields:
        if name_given := spec.name in values:
            try:
                out[spec.name] = coerce(spec, values[spec.name])
            except FieldValueError as exc:
                errors.append(exc.error)
                continue
        if (creating or name_given) and spec.name in kind.required and out.get(spec.name) is None:
            errors.append(FieldError(spec.name, "required", f"{spec.label} is required."))
    errors.extend(_core_rules(kind, out))
    return out, errors


def _core_rules(kind: Kind, values: dict[str, Any]) -> list[FieldError]:
    errors = []
    number = values.get("company_number")
    if number is not None:
        values["company_number"] = number = number.replace(" ", "").upper()
        if not number.isalnum() or len(number) > 10:
            errors.append(FieldError("company_number", "format",
                                     "Company number must be up to 10 letters and digits, like 01234567 or SC123456."))
    price = values.get("price")
    if price is not None and (price < 0 or price.as_tuple().exponent < -2 or abs(price) >= 10**12):
        errors.append(FieldError("price", "range", "Price must be zero or more, with at most 2 decimal places."))
    return errors


def _coerce_custom(specs: list[FieldSpec], raw: dict[str, Any], entity_type: str,
                   creating: bool) -> tuple[dict[str, Any], list[FieldError]]:
    by_name = {s.name: s for s in specs}
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in raw.items():
        if name not in by_name:
            errors.append(FieldError(name, "unknown_field", f"{name!r} is not a custom field of this {entity_type}."))
            continue
        try:
            out[name] = coerce(by_name[name], value)
        except FieldValueError as exc:
            errors.append(exc.error)
    if creating:
        for spec in specs:
            if spec.name not in raw and spec.default is not None:
                out[spec.name] = coerce(spec, spec.default)
    return out, errors


def _probe(kind: Kind, object_id: int | None, specs: dict[str, FieldSpec]):
    def is_taken(name: str, value: Any) -> bool:
        if kind.spec(name) is not None:
            column = getattr(kind.model, name)
            query = select(func.count()).where(column == value)
            if object_id is not None:
                query = query.where(kind.model.id != object_id)
            return bool(db.session.scalar(query))
        ext = BusinessObjectExtension
        query = select(func.count()).where(ext.entity_type == kind.entity_type, ext.field_name == name,
                                           ext.field_value == serialise(specs[name].field_type, value))
        if object_id is not None:
            query = query.where(ext.entity_id != object_id)
        return bool(db.session.scalar(query))

    return is_taken


def check_record(kind: Kind, config: cache.TenantConfig, company_id: int | None, object_id: int | None,
                 values: dict[str, Any], specs: list[FieldSpec], failed: set[str]) -> list[FieldError]:
    """Return the errors of core uniqueness and every applicable validator on a complete record."""
    all_specs = {s.name: s for s in (*kind.fields, *specs)}
    record = validators.Record(kind.entity_type, object_id, values, all_specs, _probe(kind, object_id, all_specs))
    errors = []
    for name in kind.unique:
        if name not in failed and values.get(name) is not None and record.is_taken(name, values[name]):
            errors.append(FieldError(name, "unique", f"{all_specs[name].label} {values[name]!r} is already used."))
    for validator in config.validators_for(kind.entity_type, company_id):
        target = validator.field_name
        if target is not None and (target in failed or target not in all_specs):
            continue
        errors.extend(validators.check(validator, record))
    return errors


def custom_values(entity_type: str, entity_id: int, specs: list[FieldSpec] | None = None) -> dict[str, Any]:
    """Return the object's custom field values by name (only fields that apply to it now)."""
    if specs is None:
        obj = get(entity_type, entity_id)
        specs = cache.current().fields_for(entity_type, company_scope(entity_type, obj))
    by_name = {s.name: s for s in specs}
    rows = db.session.scalars(select(BusinessObjectExtension).where(
        BusinessObjectExtension.entity_type == entity_type, BusinessObjectExtension.entity_id == entity_id,
        BusinessObjectExtension.field_name.in_(list(by_name))))
    out: dict[str, Any] = {}
    for row in rows:
        spec = by_name[row.field_name]
        if row.company_id == spec.company_id:
            out[row.field_name] = deserialise(spec.field_type, row.field_value)
    return out


def _write_custom(entity_type: str, entity_id: int, specs: list[FieldSpec], values: dict[str, Any],
                  actor_id: int | None) -> None:
    by_name = {s.name: s for s in specs}
    ext = BusinessObjectExtension
    for name, value in values.items():
        spec = by_name[name]
        row = db.session.scalar(select(ext).where(ext.entity_type == entity_type, ext.entity_id == entity_id,
                                                  ext.field_name == name, ext.company_id.is_(None)
                                                  if spec.company_id is None else ext.company_id == spec.company_id))
        if value is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(ext(entity_type=entity_type, entity_id=entity_id, company_id=spec.company_id,
                               field_name=name, field_type=spec.field_type,
                               field_value=serialise(spec.field_type, value), created_by=actor_id))
        else:
            row.field_type, row.field_value = spec.field_type, serialise(spec.field_type, value)


def _flush_or_refuse(kind: Kind) -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        name = next((n for n in kind.unique if n in str(exc.orig)), "id")
        raise ValidationError.single(name, "unique", f"That {name.replace('_', ' ')} is already used.") from exc


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: [to_jsonable(old.get(name)), to_jsonable(value)] for name, value in new.items()
            if old.get(name) != value}


def create(entity_type: str, values: dict[str, Any], custom_fields: dict[str, Any] | None = None, *,
           actor_id: int | None):
    """Validate and create a business object with its custom values; return it or raise ValidationError."""
    kind = kind_of(entity_type)
    config = cache.current()
    core, errors = _coerce_core(kind, values, creating=True)
    company_id = _checked_company(kind, core, errors)
    specs = config.fields_for(entity_type, company_id)
    custom, custom_errors = _coerce_custom(specs, custom_fields or {}, entity_type, creating=True)
    errors += custom_errors
    failed = {e.field for e in errors}
    errors += check_record(kind, config, company_id, None, {**core, **custom}, specs, failed)
    if errors:
        raise ValidationError(errors)
    obj = kind.model(**core, created_by=actor_id)
    db.session.add(obj)
    _flush_or_refuse(kind)
    _write_custom(entity_type, obj.id, specs, custom, actor_id)
    changes = _changes({}, {**core, **custom})
    audit.record(entity_type, obj.id, "create", actor_id, changes, summary=f"Created {entity_type} {obj.name}")
    db.session.flush()
    return obj


def _checked_company(kind: Kind, core: dict[str, Any], errors: list[FieldError]) -> int | None:
    company_id = core.get("company_id") if kind.entity_type == "partner" else None
    # an id beyond the integer column cannot name a company: answer as for any unknown id, not with a database error
    if company_id is not None and (not isinstance(company_id, int) or not 0 < company_id <= limits.INTEGER_MAX
                                   or db.session.get(Company, company_id) is None):
        errors.append(FieldError("company_id", "exists", f"There is no company with id {company_id}."))
        return None
    return company_id


def update(entity_type: str, object_id: int, values: dict[str, Any] | None = None,
           custom_fields: dict[str, Any] | None = None, *, actor_id: int | None):
    """Validate and apply changes to an object and its custom values; return it or raise ValidationError."""
    kind = kind_of(entity_type)
    obj = get(entity_type, object_id)
    config = cache.current()
    values = dict(values or {})
    core, errors = _coerce_core(kind, values, creating=False)
    if "company_id" in core and core["company_id"] != getattr(obj, "company_id", None):
        errors.append(FieldError("company_id", "immutable", "A partner cannot be moved to another company."))
    company_id = company_scope(entity_type, obj)
    specs = config.fields_for(entity_type, company_id)
    custom, custom_errors = _coerce_custom(specs, custom_fields or {}, entity_type, creating=False)
    errors += custom_errors
    old = {**{f.name: getattr(obj, f.name) for f in kind.fields}, **custom_values(entity_type, obj.id, specs)}
    failed = {e.field for e in errors}
    errors += check_record(kind, config, company_id, obj.id, {**old, **core, **custom}, specs, failed)
    if errors:
        raise ValidationError(errors)
    changes = _changes(old, {**core, **custom})
    for name, value in core.items():
        setattr(obj, name, value)
    _write_custom(entity_type, obj.id, specs, {k: v for k, v in custom.items() if k in changes}, actor_id)
    _flush_or_refuse(kind)
    if changes:
        audit.record(entity_type, obj.id, "update", actor_id, changes, summary=f"Updated {entity_type} {obj.name}")
        db.session.flush()
    return obj


def delete_object(entity_type: str, object_id: int, *, actor_id: int | None) -> None:
    """Delete an object and its custom values, auditing the old values; raise NotFound or ValidationError."""
    kind = kind_of(entity_type)
    obj = get(entity_type, object_id)
    if entity_type == "company":
        partners = db.session.scalar(select(func.count()).where(Partner.company_id == obj.id))
        if partners:
            raise ValidationError.single("company", "in_use", f"{obj.name} still has {partners} partner(s); "
                                                               "delete them first.")
        cache.changed()  # the company's own field definitions and validators go with it
    old = {**{f.name: getattr(obj, f.name) for f in kind.fields}, **custom_values(entity_type, obj.id)}
    db.session.execute(delete(BusinessObjectExtension).where(BusinessObjectExtension.entity_type == entity_type,
                                                             BusinessObjectExtension.entity_id == obj.id))
    db.session.delete(obj)
    changes = {name: [to_jsonable(value), None] for name, value in old.items() if value is not None}
    audit.record(entity_type, object_id, "delete", actor_id, changes, summary=f"Deleted {entity_type} {obj.name}")
    db.session.flush()


def test_value(entity_type: str, field_name: str, raw_value: Any, company_id: int | None = None) -> list[FieldError]:
    """Return the errors a single value would get from its field type and field-level validators."""
    kind = kind_of(entity_type)
    config = cache.current()
    specs = config.fields_for(entity_type, company_id)
    all_specs = {s.name: s for s in (*kind.fields, *specs)}
    spec = all_specs.get(field_name)
    if spec is None:
        return [FieldError(field_name, "unknown_field", f"{field_name!r} is not a field of a {entity_type}.")]
    try:
        value = coerce(spec, raw_value)
    except FieldValueError as exc:
        return [exc.error]
    record = validators.Record(entity_type, None, {field_name: value}, all_specs, _probe(kind, None, all_specs))
    errors = []
    for validator in config.validators_for(entity_type, company_id):
        if validator.field_name == field_name:
            errors.extend(validators.check(validator, record))
    return errors
