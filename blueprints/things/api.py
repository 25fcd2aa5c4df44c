"""JSON API for thing classes and things under `/api/t/<slug>/things/…`.

Classes: `GET|POST /things/classes`, `GET|PATCH /things/classes/<id>`, assignments and relationships
below a class; `GET|POST /things/attributes`, `GET|POST /things/relationship-types`.
Things: `GET|POST /things/classes/<id>/things` (filters `attr=gte.3`, `attr=not.in.(a,b)`, `or=(…)` as in
strata.filters, `q`, `limit`, `after`, `deleted=1`), `GET|PATCH|DELETE /things/<id>`,
`POST /things/<id>/restore`, `GET /things/<id>/related`,
`POST /things/links`, `DELETE /things/links/<id>`. Lists return `{items, next_cursor}`.
Permissions follow the class (see strata.things.access); bad input is a 422 `{error, errors: [{field, rule,
message}]}`, an unreadable class or another tenant's id a 404.
"""

from __future__ import annotations

from typing import Any

from flask import request

from blueprints import tenant_blueprint
from blueprints.things import actor
from strata.db import db
from strata.errors import ValidationError
from strata.things import query, schema, service
from strata.things.models import Attribute, RelationshipType, Thing, ThingClass

bp = tenant_blueprint("things_api", __name__, api=True, url_prefix="/things")
_RESERVED = ("q", "limit", "after", "deleted")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", 'The request body must be a JSON object, e.g. {"name": "web-1", '
                                                     '"values": {"ram_gb": 16}}.')
    return body


def _class(cls: ThingClass, count: int | None = None) -> dict[str, Any]:
    out = {"id": cls.id, "name": cls.name, "description": cls.description, "is_active": cls.is_active,
           "validation_rules": cls.validation_rules, "permissions": cls.permissions,
           "created_at": cls.created_at.isoformat(), "updated_at": cls.updated_at.isoformat()}
    if count is not None:
        out["thing_count"] = count
    return out


def _schema(model: schema.ClassSchema) -> dict[str, Any]:
    return {**_class(model.cls),
            "attributes": [{"assignment_id": s.assignment_id, "name": s.name, "label": s.label,
                            "data_type": s.data_type, "required": s.required, "rules": s.rules,
                            "enum_values": s.attribute.enum_values,
                            "reference_class_id": s.attribute.reference_class_id} for s in model.slots],
            "relationships": [{"id": link.rel.id, "label": link.label, "outgoing": link.outgoing,
                               "other_class_id": link.other.id, "other_class": link.other.name,
                               "cardinality": link.rel.cardinality_rules,
                               "is_bidirectional": link.rel.is_bidirectional} for link in model.links]}


def _attribute(a: Attribute) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "label": a.label, "data_type": a.data_type, "enum_values": a.enum_values,
            "constraints": a.constraints, "reference_class_id": a.reference_class_id, "description": a.description}


def _rtype(r: RelationshipType) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "inverse_name": r.inverse_name, "description": r.description}


def _thing(t: Thing) -> dict[str, Any]:
    return {"id": t.id, "thing_class_id": t.thing_class_id, "name": t.name, "values": t.attribute_values,
            "is_deleted": t.is_deleted, "created_by": t.created_by, "created_at": t.created_at.isoformat(),
            "updated_at": t.updated_at.isoformat()}


def _saved(payload: Any, status: int = 200):
    db.session.commit()
    return payload, status


# --- classes and definitions --------------------------------------------------------------------------------------

@bp.get("/classes")
def list_classes():
    """Return readable classes by name (`prefix` filters, any case) with their thing counts."""
    page = query.search_classes(actor(), request.args.get("prefix", ""), limit=request.args.get("limit"),
                                after=request.args.get("after"))
    return {"items": [_class(cls, int(count or 0)) for cls, count, _ in page.rows], "next_cursor": page.next_cursor}


@bp.post("/classes")
def create_class():
    """Create a class (admins); 201 with it, or 422."""
    return _saved(_class(schema.create_class(actor(), _body())), 201)


@bp.get("/classes/<int:class_id>")
def get_class(class_id: int):
    """Return a class with its attributes and relationships; 404 if unreadable."""
    return _schema(schema.load_schema(actor(), class_id))


@bp.patch("/classes/<int:class_id>")
def update_class(class_id: int):
    """Change a class (admins); return it."""
    schema.update_class(actor(), class_id, _body())
    db.session.commit()
    return _schema(schema.load_schema(actor(), class_id))


@bp.post("/classes/<int:class_id>/assignments")
def assign(class_id: int):
    """Assign an attribute to a class (admins): {attribute_id, is_required, assignment_rules}."""
    body = _body()
    made = schema.assign(actor(), class_id, body.get("attribute_id"), is_required=body.get("is_required"),
                         rules=body.get("assignment_rules"))
    return _saved({"id": made.id, "attribute_id": made.attribute_id, "is_required": made.is_required,
                   "assignment_rules": made.assignment_rules}, 201)


@bp.patch("/classes/<int:class_id>/assignments/<int:assignment_id>")
def set_required(class_id: int, assignment_id: int):
    """Make an assigned attribute required or optional (admins): {is_required}."""
    made = schema.set_required(actor(), class_id, assignment_id, _body().get("is_required"))
    return _saved({"id": made.id, "is_required": made.is_required})


@bp.delete("/classes/<int:class_id>/assignments/<int:assignment_id>")
def unassign(class_id: int, assignment_id: int):
    """Unassign an attribute (admins); 204."""
    schema.unassign(actor(), class_id, assignment_id)
    return _saved("", 204)


@bp.post("/classes/<int:class_id>/relationships")
def add_relationship(class_id: int):
    """Allow links from this class (admins): {to_thing_class_id, relationship_type_id, cardinality, min, max,
    is_bidirectional}."""
    rel = schema.add_class_relationship(actor(), class_id, _body())
    return _saved({"id": rel.id, "from_thing_class_id": rel.from_thing_class_id,
                   "to_thing_class_id": rel.to_thing_class_id, "relationship_type_id": rel.relationship_type_id,
                   "cardinality_rules": rel.cardinality_rules, "is_bidirectional": rel.is_bidirectional}, 201)


@bp.delete("/classes/<int:class_id>/relationships/<int:rel_id>")
def remove_relationship(class_id: int, rel_id: int):
    """Remove a class relationship no link uses (admins); 204."""
    schema.remove_class_relationship(actor(), class_id, rel_id)
    return _saved("", 204)


@bp.get("/attributes")
def list_attributes():
    """Return every attribute."""
    return {"items": [_attribute(a) for a in schema.list_attributes()]}


@bp.post("/attributes")
def create_attribute():
    """Create an attribute (admins); 201 or 422."""
    return _saved(_attribute(schema.create_attribute(actor(), _body())), 201)


@bp.get("/relationship-types")
def list_relationship_types():
    """Return every relationship type."""
    return {"items": [_rtype(r) for r in schema.list_relationship_types()]}


@bp.post("/relationship-types")
def create_relationship_type():
    """Create a relationship type (admins): {name, inverse_name}; 201 or 422."""
    return _saved(_rtype(schema.create_relationship_type(actor(), _body())), 201)


# --- things -------------------------------------------------------------------------------------------------------

@bp.get("/classes/<int:class_id>/things")
def list_things(class_id: int):
    """Return one page of a class's things filtered in the platform's language (`attr=gte.3`); next with `after`."""
    model = schema.load_schema(actor(), class_id, links=False)
    filters = query.parse_filters(request.args.items(multi=True), _RESERVED)
    page = query.list_things(actor(), model, filters, q=request.args.get("q"), limit=request.args.get("limit"),
                             after=request.args.get("after"), deleted=request.args.get("deleted") in ("1", "true"))
    return {"items": [_thing(t) for t in page.rows], "next_cursor": page.next_cursor}


@bp.post("/classes/<int:class_id>/things")
def create_thing(class_id: int):
    """Create a thing: {name, values}; 201, 403, 404 or 422."""
    body = _body()
    return _saved(_thing(service.create_thing(actor(), class_id, body.get("name"), body.get("values"))), 201)


@bp.get("/<bigint:thing_id>")
def get_thing(thing_id: int):
    """Return a thing; 404 if missing or its class is unreadable."""
    return _thing(service.get_thing(actor(), thing_id))


@bp.patch("/<bigint:thing_id>")
def update_thing(thing_id: int):
    """Change a thing's name and/or values (merged; null clears one)."""
    body = _body()
    return _saved(_thing(service.update_thing(actor(), thing_id, body.get("name"), body.get("values"))))


@bp.delete("/<bigint:thing_id>")
def delete_thing(thing_id: int):
    """Soft-delete a thing; return it."""
    return _saved(_thing(service.delete_thing(actor(), thing_id)))


@bp.post("/<bigint:thing_id>/restore")
def restore_thing(thing_id: int):
    """Restore a soft-deleted thing; return it."""
    return _saved(_thing(service.restore_thing(actor(), thing_id)))


@bp.get("/<bigint:thing_id>/related")
def related(thing_id: int):
    """Return the things linked to this one, both ways for bidirectional relationships."""
    thing = service.get_thing(actor(), thing_id)
    items = query.related(actor(), [thing.id]).of(thing.id)
    return {"items": [{"link_id": r.link_id, "relationship_id": r.rel_id, "label": r.label, "outgoing": r.outgoing,
                       "thing": _thing(r.other)} for r in items]}


@bp.post("/links")
def link():
    """Link two things: {relationship_id, from_id, to_id}; 201 or 422 (cardinality, classes…)."""
    body = _body()
    made = service.link(actor(), body.get("relationship_id"), body.get("from_id"), body.get("to_id"))
    return _saved({"id": made.id, "relationship_id": made.class_relationship_id, "from_id": made.from_thing_id,
                   "to_id": made.to_thing_id}, 201)


@bp.delete("/links/<bigint:link_id>")
def unlink(link_id: int):
    """Remove a link; 204."""
    service.unlink(actor(), link_id)
    return _saved("", 204)
