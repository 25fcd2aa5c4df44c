"""Thing classes, attributes, assignments, relationship types, class relationships, things and links.

Tenant tables; mirrors migration `t0004_things` (which holds the constraints, indexes and triggers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, func
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
