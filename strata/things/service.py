"""Create, change, soft-delete and restore things, and link them under their class relationships.

Every write checks the actor's permission on the class, then the whole input (name, each value's
type and constraints, required attributes, the class's validation rules, references) and raises one
ValidationError naming each broken rule, having written nothing. Links are checked against the class
relationship and its cardinality here for the message, and again by the database trigger, which
locks the things involved so two concurrent links cannot both take the last free slot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from strata import audit, patterns
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.things import constraints, summary
from strata.things.access import Actor
from strata.things.models import BIGINT_MAX, ClassRelationship, Thing, ThingClass, ThingLink, parse_id
from strata.things.schema import NAME_MAX, ClassSchema, get_class, get_class_relationship, load_schema
from strata.things.values import check_value
from strata.values import FieldValueError

_UNIQUE_LOCK = text("SELECT pg_advisory_xact_lock(:cls, hashtext(:key))")


def get_thing(actor: Actor, thing_id: Any, *, deleted_too: bool = True) -> Thing:
    """Return a thing whose class the actor may read; raise NotFound (also for another tenant's id)."""
    key = parse_id(thing_id, BIGINT_MAX)
    found = db.session.execute(
        select(Thing, ThingClass).join(ThingClass, ThingClass.id == Thing.thing_class_id)
        .where(Thing.id == key)).first() if key else None
    thing = found[0] if found else None
    if thing is None or (thing.is_deleted and not deleted_too):
        raise NotFound(f"no thing {thing_id}")
    get_class(actor, thing.thing_class_id)  # the class came with the thing: no second statement
    return thing


def _check_name(schema: ClassSchema, raw: Any, errors: list[FieldError]) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    pattern = (schema.cls.validation_rules or {}).get("name_pattern")
    if not name:
        errors.append(FieldError("name", "required", "Name must not be blank."))
    elif len(name) > NAME_MAX:
        errors.append(FieldError("name", "max_length", f"Name must be at most {NAME_MAX} characters."))
    elif pattern and not patterns.matches(pattern, name, mode="fullmatch"):
        errors.append(FieldError("name", "name_pattern", f"Name must match the pattern {pattern}."))
    return name


def validate(schema: ClassSchema, name: Any, raw_values: Any, existing: dict[str, Any] | None = None,
             thing_id: int | None = None) -> tuple[str, dict[str, Any]]:
    """Return the clean name and the complete stored values; raise ValidationError listing every problem."""
    errors: list[FieldError] = []
    name = _check_name(schema, name, errors)
    if raw_values is None:
        raw_values = {}
    if not isinstance(raw_values, dict):
        raise ValidationError.single("attribute_values", "json_object", "Attribute values must be a JSON object "
                                                                        'of name: value, like {"colour": "red"}.')
    values = dict(existing or {})
    for key in sorted(set(raw_values) - {s.name for s in schema.slots}):
        errors.append(FieldError(key, "unknown_attribute", f"{key!r} is not an attribute of {schema.cls.name}."))
    rules = schema.cls.validation_rules or {}
    for slot in schema.slots:
        if slot.name in raw_values:
            try:
                values[slot.name] = check_value(slot, raw_values[slot.name])
            except FieldValueError as exc:
                errors.append(exc.error)
                continue
        if values.get(slot.name) is None:
            values.pop(slot.name, None)
            if slot.required or slot.name in rules.get("required", []):
                errors.append(FieldError(slot.name, "required", f"{slot.label} is required."))
    if not errors:
        errors.extend(_references(schema, values))
        errors.extend(_ordered(schema, values))
        errors.extend(_unique(schema, values, thing_id))
    if errors:
        raise ValidationError(errors)
    return name, values


def _references(schema: ClassSchema, values: dict[str, Any]) -> list[FieldError]:
    wanted = {s.name: values[s.name] for s in schema.slots if s.data_type == "reference" and s.name in values}
    if not wanted:
        return []
    found = dict(db.session.execute(select(Thing.id, Thing.thing_class_id).where(
        Thing.id.in_(list(wanted.values())), Thing.is_deleted.is_(False))).all())
    errors = []
    for name, ref in wanted.items():
        slot = schema.slot(name)
        if found.get(ref) != slot.attribute.reference_class_id:
            errors.append(FieldError(name, "reference", f"{slot.label} must be the id of an existing thing of the "
                                                        f"referenced class (got {ref})."))
    return errors


def _comparable(schema: ClassSchema, name: str, value: Any) -> Any:
    slot = schema.slot(name)
    return Decimal(str(value)) if slot is not None and slot.data_type in ("integer", "decimal") else str(value)


def _ordered(schema: ClassSchema, values: dict[str, Any]) -> list[FieldError]:
    errors = []
    for first, second in (schema.cls.validation_rules or {}).get("ordered", []):
        if first not in values or second not in values:
            continue
        if _comparable(schema, first, values[first]) > _comparable(schema, second, values[second]):
            a, b = schema.slot(first), schema.slot(second)
            errors.append(FieldError(second, "ordered", f"{b.label if b else second} must not be before "
                                                        f"{a.label if a else first}."))
    return errors


def _unique(schema: ClassSchema, values: dict[str, Any], thing_id: int | None) -> list[FieldError]:
    errors = []
    for name in (schema.cls.validation_rules or {}).get("unique", []):
        if name not in values:
            continue
        # Serialise writers of the same value so that two of them cannot both pass the check.
        db.session.execute(_UNIQUE_LOCK, {"cls": schema.cls.id, "key": f"{name}={values[name]}"})
        taken = db.session.scalar(select(Thing.id).where(
            Thing.thing_class_id == schema.cls.id, Thing.is_deleted.is_(False),
            Thing.attribute_values.contains({name: values[name]}), Thing.id != (thing_id or -1)).limit(1))
        if taken is not None:
            slot = schema.slot(name)
            label = slot.label if slot else name
            errors.append(FieldError(name, "unique",
                                     f"Another {schema.cls.name} already has {label} {values[name]!r}."))
    return errors


def create_thing(actor: Actor, class_id: Any, name: Any, raw_values: Any = None) -> Thing:
    """Create a thing of a class the actor may create in; return it, or raise ValidationError."""
    schema = load_schema(actor, class_id)
    actor.require("create", schema.cls)
    if not schema.cls.is_active:
        raise ValidationError.single("thing_class_id", "inactive", f"{schema.cls.name} is deactivated and accepts "
                                                                   "no new things.")
    name, values = validate(schema, name, raw_values)
    thing = Thing(thing_class_id=schema.cls.id, name=name, attribute_values=values, created_by=actor.user_id)
    with constraints.translated():
        db.session.add(thing)
    summary.changed()
    audit.record("thing", thing.id, "create", actor.user_id, {"name": name}, f"Created {schema.cls.name} {name}")
    return thing


def update_thing(actor: Actor, thing_id: Any, name: Any = None, raw_values: Any = None) -> Thing:
    """Change a thing's name and/or values (values merge into the stored ones; null clears one)."""
    thing = get_thing(actor, thing_id, deleted_too=False)
    schema = load_schema(actor, thing.thing_class_id)
    actor.require("update", schema.cls)
    new_name, values = validate(schema, thing.name if name is None else name, raw_values,
                                thing.attribute_values, thing.id)
    changes = {k: [thing.attribute_values.get(k), values.get(k)] for k in set(values) | set(thing.attribute_values)
               if thing.attribute_values.get(k) != values.get(k)}
    if new_name != thing.name:
        changes["name"] = [thing.name, new_name]
    with constraints.translated():
        thing.name, thing.attribute_values = new_name, values
    audit.record("thing", thing.id, "update", actor.user_id, changes, f"Changed {schema.cls.name} {new_name}")
    return thing


def delete_thing(actor: Actor, thing_id: Any) -> Thing:
    """Soft-delete a thing: it leaves lists and traversals, keeps its links, and can be restored."""
    thing = get_thing(actor, thing_id)
    actor.require("delete", get_class(actor, thing.thing_class_id))
    if not thing.is_deleted:
        thing.is_deleted, thing.deleted_at = True, datetime.now(UTC)
        db.session.flush()
        summary.changed()
        audit.record("thing", thing.id, "delete", actor.user_id, summary=f"Deleted {thing.name}")
    return thing


def restore_thing(actor: Actor, thing_id: Any) -> Thing:
    """Bring a soft-deleted thing back, with its links."""
    thing = get_thing(actor, thing_id)
    actor.require("delete", get_class(actor, thing.thing_class_id))
    if thing.is_deleted:
        thing.is_deleted, thing.deleted_at = False, None
        db.session.flush()
        summary.changed()
        audit.record("thing", thing.id, "restore", actor.user_id, summary=f"Restored {thing.name}")
    return thing


def _link_errors(rel: ClassRelationship, source: Thing, target: Thing) -> list[FieldError]:
    if not rel.is_active:
        return [FieldError("class_relationship_id", "inactive", "This relationship is deactivated.")]
    errors = []
    if source.thing_class_id != rel.from_thing_class_id:
        errors.append(FieldError("from_thing_id", "class", f"{source.name} is not of the relationship's source class."))
    if target.thing_class_id != rel.to_thing_class_id:
        errors.append(FieldError("to_thing_id", "class", f"{target.name} is not of the relationship's target class."))
    if source.id == target.id:
        errors.append(FieldError("to_thing_id", "self", "A thing cannot be linked to itself."))
    if errors:
        return errors
    mine = select(func.count()).select_from(ThingLink).where(ThingLink.class_relationship_id == rel.id)
    if db.session.scalar(mine.where(ThingLink.from_thing_id == source.id, ThingLink.to_thing_id == target.id)):
        return [FieldError("to_thing_id", "unique", f"{source.name} is already linked to {target.name} this way.")]
    targets = db.session.scalar(mine.where(ThingLink.from_thing_id == source.id)) if rel.max_targets else 0
    if rel.max_targets is not None and targets >= rel.max_targets:
        return [FieldError("to_thing_id", "cardinality", f"{source.name} may have at most {rel.max_targets} link(s) "
                                                         f"of this relationship ({rel.kind.replace('_', '-')}).")]
    if rel.single_source and db.session.scalar(mine.where(ThingLink.to_thing_id == target.id)):
        return [FieldError("to_thing_id", "cardinality", f"{target.name} is already linked from another thing by this "
                                                         f"{rel.kind.replace('_', '-')} relationship.")]
    return []


def link(actor: Actor, rel_id: Any, from_id: Any, to_id: Any) -> ThingLink:
    """Link two things under a class relationship; raise ValidationError when it or its cardinality forbids it."""
    try:
        rel = get_class_relationship(actor, rel_id)
    except NotFound:
        raise ValidationError.single("relationship_id", "exists", "Choose an existing relationship.") from None
    errors = []
    things = {}
    for key, raw in (("from_thing_id", from_id), ("to_thing_id", to_id)):
        try:
            things[key] = get_thing(actor, raw, deleted_too=False)
        except NotFound:
            errors.append(FieldError(key, "exists", "Choose an existing thing."))
    if errors:
        raise ValidationError(errors)
    source, target = things["from_thing_id"], things["to_thing_id"]
    actor.require("update", get_class(actor, source.thing_class_id))
    errors = _link_errors(rel, source, target)
    if errors:
        raise ValidationError(errors)
    new = ThingLink(class_relationship_id=rel.id, from_thing_id=source.id, to_thing_id=target.id,
                    created_by=actor.user_id)
    with constraints.translated():
        db.session.add(new)
    audit.record("thing", source.id, "update", actor.user_id, {"to": target.id, "relationship": rel.id},
                 f"Linked {source.name} to {target.name}")
    return new


def unlink(actor: Actor, link_id: Any) -> None:
    """Remove a link; the source class's update permission is needed, and the relationship's minimum is kept."""
    key = parse_id(link_id, BIGINT_MAX)
    found = db.session.get(ThingLink, key) if key else None
    if found is None:
        raise NotFound(f"no link {link_id}")
    source = get_thing(actor, found.from_thing_id)
    get_thing(actor, found.to_thing_id)
    actor.require("update", get_class(actor, source.thing_class_id))
    rel = db.session.get(ClassRelationship, found.class_relationship_id)
    if rel.min_targets:
        db.session.execute(select(Thing.id).where(Thing.id == source.id).with_for_update(key_share=False))
        count = db.session.scalar(select(func.count()).select_from(ThingLink).where(
            ThingLink.class_relationship_id == rel.id, ThingLink.from_thing_id == source.id))
        if count <= rel.min_targets:
            raise ValidationError.single("link", "cardinality", f"{source.name} needs at least {rel.min_targets} "
                                                                "link(s) of this relationship.")
    db.session.delete(found)
    db.session.flush()
    audit.record("thing", source.id, "update", actor.user_id, {"to": found.to_thing_id}, f"Unlinked {source.name}")


def ids_named(class_id: int, name: str, limit: int = 2) -> list[int]:
    """Return the ids of up to `limit` live things of a class called exactly `name`."""
    return list(db.session.scalars(select(Thing.id).where(
        Thing.thing_class_id == class_id, Thing.name == name, Thing.is_deleted.is_(False)).limit(limit)))


def classes_of(thing_ids: list[int]) -> dict[int, ThingClass]:
    """Return the class of each thing id (one statement)."""
    rows = db.session.execute(select(Thing.id, ThingClass).join(ThingClass, ThingClass.id == Thing.thing_class_id)
                              .where(Thing.id.in_(thing_ids)))
    return {thing_id: cls for thing_id, cls in rows}
