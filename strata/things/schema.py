"""Define the model: thing classes, attributes and their assignments, relationship types and class relationships.

Changing definitions is tenant-admin work (`actor.require_admin()`); reading a class needs the read
permission, and a class the actor may not read is NotFound. Every write checks its input first and
raises one ValidationError naming each broken rule; the database's constraints back the same rules
(see constraints.py). Writes run in the caller's transaction and are audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from strata import audit
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.things import access, constraints, summary
from strata.things.access import Actor
from strata.things.models import (
    CARDINALITIES,
    INT_MAX,
    Attribute,
    AttributeAssignment,
    ClassRelationship,
    RelationshipType,
    ThingClass,
    ThingLink,
    parse_id,
)
from strata.things.values import Slot, clean_constraints, clean_rules, slot_of

NAME_MAX = 255
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")  # the valid_attribute_name CHECK
_OTHER_CLASS = aliased(ThingClass, name="other_class")  # built once (see query._OTHER)


@dataclass
class Link:
    """A class relationship seen from one class: outgoing, or incoming (shown when bidirectional)."""

    rel: ClassRelationship
    rtype: RelationshipType
    other: ThingClass
    outgoing: bool

    @property
    def label(self) -> str:
        return self.rtype.name if self.outgoing else self.rtype.inverse_name


@dataclass
class ClassSchema:
    """One class with its active attribute slots and the relationships that touch it."""

    cls: ThingClass
    slots: list[Slot] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    @property
    def outgoing(self) -> list[Link]:
        return [link for link in self.links if link.outgoing]

    @property
    def incoming(self) -> list[Link]:
        return [link for link in self.links if not link.outgoing]


def _name(raw: Any, label: str = "Name", field_name: str = "name") -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise ValidationError.single(field_name, "required", f"{label} must not be blank.")
    if len(name) > NAME_MAX:
        raise ValidationError.single(field_name, "max_length", f"{label} must be at most {NAME_MAX} characters.")
    return name


def _flag(raw: Any, field_name: str) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    raise ValidationError.single(field_name, "type", f"{field_name} must be true or false.")


def _description(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValidationError.single("description", "type", "Description must be text.")
    return (raw or "").strip() or None


# --- classes ------------------------------------------------------------------------------------------------------

def get_class(actor: Actor, class_id: Any) -> ThingClass:
    """Return the class the actor may read; raise NotFound otherwise."""
    key = parse_id(class_id)
    cls = db.session.get(ThingClass, key) if key else None
    if cls is None or not actor.can("read", cls):
        raise NotFound(f"no thing class {class_id}")
    return cls


def class_by_name(actor: Actor, name: str) -> ThingClass:
    """Return the readable class called `name`; raise NotFound."""
    cls = db.session.scalar(select(ThingClass).where(ThingClass.name == name))
    if cls is None or not actor.can("read", cls):
        raise NotFound(f"no thing class {name!r}")
    return cls


def _class_values(values: dict[str, Any], cls: ThingClass | None) -> dict[str, Any]:
    out, errors = {}, []
    for key, check in (("name", _name), ("validation_rules", clean_rules), ("permissions", access.clean_permissions),
                       ("description", _description)):
        if key in values or (cls is None and key == "name"):
            try:
                out[key] = check(values.get(key))
            except ValidationError as exc:
                errors.extend(exc.errors)
    if "is_active" in values:
        if isinstance(values["is_active"], bool):
            out["is_active"] = values["is_active"]
        else:
            errors.append(FieldError("is_active", "type", "is_active must be true or false."))
    unknown = set(values) - {"name", "validation_rules", "permissions", "description", "is_active"}
    errors.extend(FieldError(k, "unknown_field", f"{k!r} is not a field of a thing class.") for k in sorted(unknown))
    if "name" in out and db.session.scalar(select(ThingClass.id).where(
            ThingClass.name == out["name"], ThingClass.id != (cls.id if cls else -1))) is not None:
        errors.append(FieldError("name", "unique", f"A thing class named {out['name']!r} already exists."))
    if errors:
        raise ValidationError(errors)
    return out


def create_class(actor: Actor, values: dict[str, Any]) -> ThingClass:
    """Create a thing class from `values` (name, description, validation_rules, permissions, is_active)."""
    actor.require_admin()
    cls = ThingClass(created_by=actor.user_id, **_class_values(values, None))
    with constraints.translated():
        db.session.add(cls)
    summary.changed()
    audit.record("thing_class", cls.id, "create", actor.user_id, summary=f"Created thing class {cls.name}")
    return cls


def update_class(actor: Actor, class_id: Any, values: dict[str, Any]) -> ThingClass:
    """Change a class's name, description, rules, permissions or active flag; return it."""
    actor.require_admin()
    cls = get_class(actor, class_id)
    changes = _class_values(values, cls)
    with constraints.translated():
        for key, value in changes.items():
            setattr(cls, key, value)
    summary.changed()
    audit.record("thing_class", cls.id, "update", actor.user_id, {k: str(v) for k, v in changes.items()},
                 f"Changed thing class {cls.name}")
    return cls


def load_schema(actor: Actor, class_id: Any, *, links: bool = True) -> ClassSchema:
    """Return the class with its attribute slots and relationships (both ways); NotFound if unreadable.

    The class and its slots come in one statement; `links=False` skips the relationships (list pages
    do not show them)."""
    key = parse_id(class_id)
    if key is None:
        raise NotFound(f"no thing class {class_id}")
    rows = db.session.execute(
        select(ThingClass, AttributeAssignment, Attribute)
        .outerjoin(AttributeAssignment, (AttributeAssignment.thing_class_id == ThingClass.id)
                   & AttributeAssignment.is_active)
        .outerjoin(Attribute, Attribute.id == AttributeAssignment.attribute_id)
        .where(ThingClass.id == key)
        .order_by(AttributeAssignment.position, AttributeAssignment.id)).all()
    if not rows or not actor.can("read", rows[0][0]):
        raise NotFound(f"no thing class {class_id}")
    schema = ClassSchema(rows[0][0])
    schema.slots = [slot_of(attribute, assignment) for _, assignment, attribute in rows if assignment is not None]
    if links:
        schema.links = class_links(actor, [schema.cls.id])[schema.cls.id]
    return schema


def class_links(actor: Actor, class_ids: list[int]) -> dict[int, list[Link]]:
    """Return, per class, its active relationships: outgoing ones and incoming bidirectional ones."""
    other = _OTHER_CLASS
    rows = db.session.execute(
        select(ClassRelationship, RelationshipType, ThingClass, other)
        .join(RelationshipType, RelationshipType.id == ClassRelationship.relationship_type_id)
        .join(ThingClass, ThingClass.id == ClassRelationship.from_thing_class_id)
        .join(other, other.id == ClassRelationship.to_thing_class_id)
        .where(ClassRelationship.is_active,
               ClassRelationship.from_thing_class_id.in_(class_ids)
               | ClassRelationship.to_thing_class_id.in_(class_ids))
        .order_by(RelationshipType.name, ClassRelationship.id))
    out: dict[int, list[Link]] = {cid: [] for cid in class_ids}
    for rel, rtype, source, target in rows:
        if rel.from_thing_class_id in out and actor.can("read", target):
            out[rel.from_thing_class_id].append(Link(rel, rtype, target, True))
        if rel.to_thing_class_id in out and rel.is_bidirectional and actor.can("read", source):
            out[rel.to_thing_class_id].append(Link(rel, rtype, source, False))
    return out


# --- attributes ---------------------------------------------------------------------------------------------------

def _enum_values(raw: Any) -> list[str]:
    if raw is None:
        raw = []
    if isinstance(raw, str):
        raw = [v.strip() for v in raw.replace("\n", ",").split(",")]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValidationError.single("enum_values", "json_array", "Enum values must be a list of texts.")
    values = list(dict.fromkeys(v.strip() for v in raw if v.strip()))
    if not values:
        raise ValidationError.single("enum_values", "required", "An enum attribute needs at least one value.")
    return values


def create_attribute(actor: Actor, values: dict[str, Any]) -> Attribute:
    """Create an attribute (name, label, data_type, enum_values, constraints, reference_class_id, description)."""
    actor.require_admin()
    errors: list[FieldError] = []
    data_type = values.get("data_type") or ""
    out: dict[str, Any] = {"data_type": data_type}
    name = (values.get("name") or "").strip() if isinstance(values.get("name"), str) else ""
    out["name"] = name
    if not name:
        errors.append(FieldError("name", "required", "Name must not be blank."))
    elif not ATTRIBUTE_NAME.fullmatch(name):
        errors.append(FieldError(*constraints.MESSAGES["valid_attribute_name"]))
    elif db.session.scalar(select(Attribute.id).where(Attribute.name == name)) is not None:
        errors.append(FieldError("name", "unique", f"An attribute named {name!r} already exists."))
    label = values.get("label")
    out["label"] = (label.strip() if isinstance(label, str) and label.strip() else name.replace("_", " ").capitalize())
    if len(out["label"]) > NAME_MAX:
        errors.append(FieldError("label", "max_length", f"Label must be at most {NAME_MAX} characters."))
    for key, check in (("description", lambda: _description(values.get("description"))),
                       ("constraints", lambda: clean_constraints(data_type, values.get("constraints"))),
                       ("enum_values", lambda: _enum_values(values.get("enum_values")) if data_type == "enum" else []),
                       ("reference_class_id", lambda: _reference_class(actor, data_type, values))):
        try:
            out[key] = check()
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    attribute = Attribute(created_by=actor.user_id, **out)
    with constraints.translated():
        db.session.add(attribute)
    audit.record("attribute", attribute.id, "create", actor.user_id, summary=f"Created attribute {name}")
    return attribute


def _reference_class(actor: Actor, data_type: str, values: dict[str, Any]) -> int | None:
    raw = values.get("reference_class_id")
    if data_type != "reference":
        return None
    if raw in (None, ""):
        raise ValidationError.single("reference_class_id", "required", "Choose the class this attribute refers to.")
    try:
        return get_class(actor, raw).id
    except NotFound:
        raise ValidationError.single("reference_class_id", "exists", "The referenced class does not exist.") from None


def list_attributes() -> list[Attribute]:
    """Return every attribute, by name."""
    return list(db.session.scalars(select(Attribute).order_by(Attribute.name)))


def assign(actor: Actor, class_id: Any, attribute_id: Any, *, is_required: bool = False,
           rules: Any = None) -> AttributeAssignment:
    """Give an attribute to a class (required or not, with extra rules); return the assignment."""
    actor.require_admin()
    cls = get_class(actor, class_id)
    is_required = _flag(is_required, "is_required")
    key = parse_id(attribute_id)
    attribute = db.session.get(Attribute, key) if key else None
    if attribute is None:
        raise ValidationError.single("attribute_id", "exists", "Choose an existing attribute.")
    rules = clean_constraints(attribute.data_type, rules, "assignment_rules")
    exists = db.session.scalar(select(AttributeAssignment.id).where(
        AttributeAssignment.thing_class_id == cls.id, AttributeAssignment.attribute_id == attribute.id))
    if exists is not None:
        raise ValidationError.single("attribute_id", "unique", f"{attribute.label} is already assigned to {cls.name}.")
    position = db.session.scalar(select(func.coalesce(func.max(AttributeAssignment.position), 0) + 1).where(
        AttributeAssignment.thing_class_id == cls.id))
    assignment = AttributeAssignment(thing_class_id=cls.id, attribute_id=attribute.id, is_required=is_required,
                                     assignment_rules=rules, position=position, created_by=actor.user_id)
    with constraints.translated():
        db.session.add(assignment)
    summary.changed()
    audit.record("thing_class", cls.id, "update", actor.user_id, {"attribute": attribute.name},
                 f"Assigned {attribute.name} to {cls.name}")
    return assignment


def _assignment(actor: Actor, class_id: Any, assignment_id: Any) -> AttributeAssignment:
    cls = get_class(actor, class_id)
    key = parse_id(assignment_id)
    found = db.session.get(AttributeAssignment, key) if key else None
    if found is None or found.thing_class_id != cls.id:
        raise NotFound(f"no assignment {assignment_id}")
    return found


def set_required(actor: Actor, class_id: Any, assignment_id: Any, is_required: bool) -> AttributeAssignment:
    """Make an assigned attribute required or optional for its class."""
    actor.require_admin()
    assignment = _assignment(actor, class_id, assignment_id)
    assignment.is_required = is_required = _flag(is_required, "is_required")
    audit.record("thing_class", assignment.thing_class_id, "update", actor.user_id,
                 {"assignment": assignment.id, "is_required": is_required}, "Changed a required flag")
    return assignment


def unassign(actor: Actor, class_id: Any, assignment_id: Any) -> None:
    """Take an attribute away from a class (the things' stored values stay but are no longer shown)."""
    actor.require_admin()
    assignment = _assignment(actor, class_id, assignment_id)
    db.session.delete(assignment)
    db.session.flush()
    summary.changed()
    audit.record("thing_class", assignment.thing_class_id, "update", actor.user_id,
                 {"attribute_id": assignment.attribute_id}, "Unassigned an attribute")


# --- relationship types and class relationships -------------------------------------------------------------------

def create_relationship_type(actor: Actor, values: dict[str, Any]) -> RelationshipType:
    """Create a relationship type from its name and inverse name."""
    actor.require_admin()
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    try:
        out["description"] = _description(values.get("description"))
    except ValidationError as exc:
        errors.extend(exc.errors)
    for key, label in (("name", "Name"), ("inverse_name", "Inverse name")):
        try:
            out[key] = _name(values.get(key), label, key)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if "name" in out and db.session.scalar(select(RelationshipType.id).where(
            RelationshipType.name == out["name"])) is not None:
        errors.append(FieldError("name", "unique", f"A relationship type named {out['name']!r} already exists."))
    if errors:
        raise ValidationError(errors)
    rtype = RelationshipType(created_by=actor.user_id, **out)
    with constraints.translated():
        db.session.add(rtype)
    audit.record("relationship_type", rtype.id, "create", actor.user_id, summary=f"Created relationship {rtype.name}")
    return rtype


def list_relationship_types() -> list[RelationshipType]:
    """Return every relationship type, by name."""
    return list(db.session.scalars(select(RelationshipType).order_by(RelationshipType.name)))


def clean_cardinality(kind: Any, minimum: Any = None, maximum: Any = None) -> dict[str, Any]:
    """Return cardinality rules {type, min?, max?}; raise ValidationError naming the bad part."""
    if kind not in CARDINALITIES:
        raise ValidationError.single("cardinality", "choice", f"Cardinality must be one of {', '.join(CARDINALITIES)}.")
    rules: dict[str, Any] = {"type": kind}
    for key, raw in (("min", minimum), ("max", maximum)):
        if raw in (None, ""):
            continue
        text = str(raw).strip()
        if isinstance(raw, bool) or not (text.isascii() and text.isdigit()) or int(text) > INT_MAX:
            raise ValidationError.single(key, "type", f"{key.capitalize()} links must be a whole number from 0 to "
                                                      f"{INT_MAX}.")
        rules[key] = int(text)
    if kind in ("one_to_one", "many_to_one") and rules.get("max", 1) != 1:
        raise ValidationError.single("max", "cardinality", f"A {kind.replace('_', '-')} relationship allows at most "
                                                           "one target per thing; leave max empty or 1.")
    if "max" in rules and rules["max"] < 1:
        raise ValidationError.single("max", "range", "Max links must be at least 1.")
    if "max" in rules and rules.get("min", 0) > rules["max"]:
        raise ValidationError.single("min", "range", "Min links must not be greater than max links.")
    return rules


def add_class_relationship(actor: Actor, from_class_id: Any, values: dict[str, Any]) -> ClassRelationship:
    """Allow links of a type from one class to another, with cardinality and a bidirectional flag."""
    actor.require_admin()
    source = get_class(actor, from_class_id)
    errors: list[FieldError] = []
    try:
        target = get_class(actor, values.get("to_thing_class_id"))
    except NotFound:
        target = None
        errors.append(FieldError("to_thing_class_id", "exists", "Choose the class to link to."))
    type_id = parse_id(values.get("relationship_type_id"))
    rtype = db.session.get(RelationshipType, type_id) if type_id else None
    if rtype is None:
        errors.append(FieldError("relationship_type_id", "exists", "Choose a relationship type."))
    try:
        rules = clean_cardinality(values.get("cardinality"), values.get("min"), values.get("max"))
    except ValidationError as exc:
        errors.extend(exc.errors)
    try:
        bidirectional = _flag(values.get("is_bidirectional"), "is_bidirectional")
    except ValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    rel = ClassRelationship(from_thing_class_id=source.id, to_thing_class_id=target.id, relationship_type_id=rtype.id,
                            cardinality_rules=rules, is_bidirectional=bidirectional,
                            created_by=actor.user_id)
    with constraints.translated():
        db.session.add(rel)
    audit.record("thing_class", source.id, "update", actor.user_id, {"relationship": rel.id},
                 f"{source.name} {rtype.name} {target.name}")
    return rel


def get_class_relationship(actor: Actor, rel_id: Any) -> ClassRelationship:
    """Return a class relationship both of whose classes the actor may read; raise NotFound."""
    key = parse_id(rel_id)
    rel = db.session.get(ClassRelationship, key) if key else None
    if rel is None:
        raise NotFound(f"no class relationship {rel_id}")
    get_class(actor, rel.from_thing_class_id)
    get_class(actor, rel.to_thing_class_id)
    return rel


def remove_class_relationship(actor: Actor, class_id: Any, rel_id: Any) -> None:
    """Remove a class relationship that no link uses; raise ValidationError while links exist."""
    actor.require_admin()
    cls = get_class(actor, class_id)
    rel = get_class_relationship(actor, rel_id)
    if cls.id not in (rel.from_thing_class_id, rel.to_thing_class_id):
        raise NotFound(f"no class relationship {rel_id} on class {cls.id}")
    used = db.session.scalar(select(func.count()).select_from(ThingLink).where(
        ThingLink.class_relationship_id == rel.id))
    if used:
        raise ValidationError.single("relationship", "in_use", f"{used} link(s) use this relationship; "
                                                               "unlink those things first.")
    db.session.delete(rel)
    db.session.flush()
    audit.record("thing_class", cls.id, "update", actor.user_id, {"relationship": rel.id}, "Removed a relationship")
