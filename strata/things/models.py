"""Thing classes, attributes, assignments, relationship types, class relationships, things and links.

Tenant tables; mirrors migration `t0004_things` (which holds the constraints, indexes and triggers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import TimestampMixin, db

DATA_TYPES = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "enum", "reference")
CARDINALITIES = ("one_to_one", "one_to_many", "many_to_one", "many_to_many")
ACTIONS = ("read", "create", "update", "delete")
INT_MAX, BIGINT_MAX = 2**31 - 1, 2**63 - 1


def parse_id(raw: Any, limit: int = INT_MAX) -> int | None:
    """Return `raw` as a row id (a whole number from 1 to `limit`, the column type's largest), or None."""
    text = str(raw)
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= limit else None


def _created_by() -> Mapped[int | None]:
    return mapped_column(ForeignKey("public.users.id", ondelete="SET NULL"))


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class ThingClass(TimestampMixin, db.Model):
    """A kind of thing the tenant models, with its rules and per-action role permissions."""

    __tablename__ = "thing_classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    validation_rules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    permissions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[int | None] = _created_by()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Attribute(TimestampMixin, db.Model):
    """A typed attribute that classes can be assigned, with its own constraints."""

    __tablename__ = "attributes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    data_type: Mapped[str] = mapped_column(String(20))
    enum_values: Mapped[list[str]] = mapped_column(JSONB, default=list)
    constraints: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    reference_class_id: Mapped[int | None] = mapped_column(ForeignKey("thing_classes.id", ondelete="RESTRICT"))
    created_by: Mapped[int | None] = _created_by()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AttributeAssignment(db.Model):
    """An attribute given to a class: required or not, with extra rules for that class."""

    __tablename__ = "attribute_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    thing_class_id: Mapped[int] = mapped_column(ForeignKey("thing_classes.id", ondelete="CASCADE"))
    attribute_id: Mapped[int] = mapped_column(ForeignKey("attributes.id"))
    is_required: Mapped[bool] = mapped_column(Boolean, default=False)
    assignment_rules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created_at()
    created_by: Mapped[int | None] = _created_by()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RelationshipType(TimestampMixin, db.Model):
    """A named kind of link ("manages") and its inverse ("managed by")."""

    __tablename__ = "relationship_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    inverse_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = _created_by()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ClassRelationship(db.Model):
    """A link allowed from things of one class to things of another, with its cardinality."""

    __tablename__ = "thing_class_relationships"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_thing_class_id: Mapped[int] = mapped_column(ForeignKey("thing_classes.id", ondelete="CASCADE"))
    to_thing_class_id: Mapped[int] = mapped_column(ForeignKey("thing_classes.id", ondelete="CASCADE"))
    relationship_type_id: Mapped[int] = mapped_column(ForeignKey("relationship_types.id"))
    cardinality_rules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    is_bidirectional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created_at()
    created_by: Mapped[int | None] = _created_by()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def kind(self) -> str:
        return self.cardinality_rules.get("type", "many_to_many")

    @property
    def max_targets(self) -> int | None:
        """How many targets one source may link to (None: no limit)."""
        if self.kind in ("one_to_one", "many_to_one"):
            return 1
        return self.cardinality_rules.get("max")

    @property
    def min_targets(self) -> int:
        return int(self.cardinality_rules.get("min") or 0)

    @property
    def single_source(self) -> bool:
        """True when one target may be linked from only one source."""
        return self.kind in ("one_to_one", "one_to_many")


class Thing(TimestampMixin, db.Model):
    """One instance of a class: a name and its attribute values; soft-deleted with is_deleted."""

    __tablename__ = "things"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    thing_class_id: Mapped[int] = mapped_column(ForeignKey("thing_classes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    attribute_values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = _created_by()


class ThingLink(db.Model):
    """A link between two things under one class relationship."""

    __tablename__ = "thing_relationships"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    class_relationship_id: Mapped[int] = mapped_column(ForeignKey("thing_class_relationships.id", ondelete="CASCADE"))
    from_thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"))
    to_thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = _created_by()
    created_at: Mapped[datetime] = _created_at()


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("idx_assignments_active", AttributeAssignment.is_active)
Index("idx_assignments_attr_required", AttributeAssignment.attribute_id, AttributeAssignment.is_required)
Index("idx_assignments_attribute", AttributeAssignment.attribute_id)
Index("idx_assignments_class_active", AttributeAssignment.thing_class_id, AttributeAssignment.is_active)
Index("idx_assignments_required", AttributeAssignment.is_required)
Index("idx_assignments_rules_gin", AttributeAssignment.assignment_rules, postgresql_using="gin")
Index("idx_assignments_thing_class", AttributeAssignment.thing_class_id)
AttributeAssignment.__table__.append_constraint(
    UniqueConstraint("thing_class_id", "attribute_id", name="unique_thing_class_attribute"))
Index("idx_attributes_constraints_gin", Attribute.constraints, postgresql_using="gin")
Index("idx_attributes_data_type", Attribute.data_type)
Index("idx_attributes_reference_class", Attribute.reference_class_id)
Attribute.__table__.append_constraint(UniqueConstraint("name", name="unique_attribute_name"))
RelationshipType.__table__.append_constraint(UniqueConstraint("name", name="unique_relationship_type_name"))
Index("idx_class_rel_active", ClassRelationship.is_active)
Index("idx_class_rel_from", ClassRelationship.from_thing_class_id)
Index("idx_class_rel_to", ClassRelationship.to_thing_class_id)
Index("idx_class_rel_type", ClassRelationship.relationship_type_id)
ClassRelationship.__table__.append_constraint(
    UniqueConstraint("from_thing_class_id", "to_thing_class_id", "relationship_type_id",
                     name="unique_class_relationship"))
Index("idx_thing_classes_active", ThingClass.is_active)
Index("idx_thing_classes_active_created", ThingClass.is_active, ThingClass.created_at.desc())
Index("idx_thing_classes_created_at", ThingClass.created_at)
Index("idx_thing_classes_created_by_date", ThingClass.created_by, ThingClass.created_at)
Index("idx_thing_classes_name", ThingClass.name)
Index("idx_thing_classes_name_active", ThingClass.name, ThingClass.is_active)
Index("idx_thing_classes_name_prefix", func.lower(ThingClass.name).collate("C"), ThingClass.id)
Index("idx_thing_classes_permissions_gin", ThingClass.permissions, postgresql_using="gin")
Index("idx_thing_classes_validation_rules_gin", ThingClass.validation_rules, postgresql_using="gin")
ThingClass.__table__.append_constraint(UniqueConstraint("name", name="unique_thing_class_name"))
Index("idx_thing_rel_from", ThingLink.from_thing_id, ThingLink.class_relationship_id)
Index("idx_thing_rel_to", ThingLink.to_thing_id, ThingLink.class_relationship_id)
ThingLink.__table__.append_constraint(
    UniqueConstraint("class_relationship_id", "from_thing_id", "to_thing_id", name="unique_thing_relationship"))
Index("idx_things_class_deleted", Thing.thing_class_id, Thing.is_deleted)
Index("idx_things_class_name", Thing.thing_class_id, Thing.name, Thing.id, postgresql_where=text("NOT is_deleted"))
Index("idx_things_values_gin", Thing.attribute_values, postgresql_using="gin",
      postgresql_ops={"attribute_values": "jsonb_path_ops"})
