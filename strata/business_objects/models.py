"""Business objects and their custom fields, values and validators (tenant schema).

Mirrors migration `t0002_business_objects`; the two extension tables follow seed 000.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import TimestampMixin, db

ENTITY_TYPES = ("company", "partner", "product")


def _created_by() -> Mapped[int | None]:
    return mapped_column(ForeignKey("public.users.id", ondelete="SET NULL"))


class Company(TimestampMixin, db.Model):
    """A company the tenant deals with; `company_number` is unique when present."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    framework_version: Mapped[str] = mapped_column(String(10), default="1.0", server_default="1.0")
    created_by: Mapped[int | None] = _created_by()
    # Companies House profile and stream bookkeeping (seed 002, migration t0005_streams).
    company_status: Mapped[str | None] = mapped_column(String(50))
    company_type: Mapped[str | None] = mapped_column(String(80))
    jurisdiction: Mapped[str | None] = mapped_column(String(50))
    date_of_creation: Mapped[date | None] = mapped_column(Date)
    date_of_cessation: Mapped[date | None] = mapped_column(Date)
    registered_office_address: Mapped[dict | None] = mapped_column(JSONB)
    sic_codes: Mapped[list | None] = mapped_column(JSONB)
    accounts: Mapped[dict | None] = mapped_column(JSONB)
    etag: Mapped[str | None] = mapped_column(String(80))
    stream_last_updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stream_event_id: Mapped[str | None] = mapped_column(Text)
    stream_event_type: Mapped[str | None] = mapped_column(Text)
    stream_processing_status: Mapped[str | None] = mapped_column(Text, server_default="pending")
    stream_timepoint: Mapped[int | None] = mapped_column(BigInteger)
    stream_published_at: Mapped[datetime | None] = mapped_column(DateTime)


class Partner(TimestampMixin, db.Model):
    """A partner (contact, supplier…) belonging to one company."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    framework_version: Mapped[str] = mapped_column(String(10), default="1.0", server_default="1.0")
    created_by: Mapped[int | None] = _created_by()


class Product(TimestampMixin, db.Model):
    """A product the tenant sells; `sku` is unique when present."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    framework_version: Mapped[str] = mapped_column(String(10), default="1.0", server_default="1.0")
    created_by: Mapped[int | None] = _created_by()


class CustomFieldDefinition(TimestampMixin, db.Model):
    """A custom field of one entity type, tenant-wide (company_id NULL) or for one company."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (
        UniqueConstraint("entity_type", "company_id", "name", name="uq_custom_field_definitions_scope_name",
                         postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[str] = mapped_column(String(50))
    help_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    default_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    options: Mapped[list[str] | None] = mapped_column(JSONB, nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int | None] = _created_by()


class BusinessObjectExtension(TimestampMixin, db.Model):
    """One custom field value of one business object, as JSON text typed by `field_type` (seed 000)."""

    __tablename__ = "business_object_extensions"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "field_name", "company_id", name="uq_extensions_entity_field",
                         postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[int] = mapped_column(Integer)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    field_name: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[str] = mapped_column(String(50), default="string", server_default="string")
    field_value: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = _created_by()


class BusinessObjectValidator(TimestampMixin, db.Model):
    """A validation rule on one field (or, with field_name NULL, across fields) of an entity type (seed 000)."""

    __tablename__ = "business_object_validators"
    __table_args__ = (
        UniqueConstraint("entity_type", "company_id", "validator_name", "field_name",
                         name="uq_validators_entity_name", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    validator_name: Mapped[str] = mapped_column(String(100))
    validator_type: Mapped[str] = mapped_column(String(50), default="custom", server_default="custom")
    field_name: Mapped[str | None] = mapped_column(String(100))
    validator_config: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int | None] = _created_by()


MODELS: dict[str, type[Company] | type[Partner] | type[Product]] = {
    "company": Company,
    "partner": Partner,
    "product": Product,
}


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("idx_extensions_company", BusinessObjectExtension.company_id)
Index("idx_extensions_entity", BusinessObjectExtension.entity_type, BusinessObjectExtension.entity_id)
Index("idx_extensions_field", BusinessObjectExtension.field_name)
Index("ix_extensions_date_value", BusinessObjectExtension.entity_type, BusinessObjectExtension.field_name,
      BusinessObjectExtension.field_value.collate("C"), BusinessObjectExtension.entity_id,
      BusinessObjectExtension.company_id,
      postgresql_where=text("field_type = 'date'"))
Index("ix_extensions_numeric_value", BusinessObjectExtension.entity_type, BusinessObjectExtension.field_name,
      text("(field_value::numeric)"), BusinessObjectExtension.entity_id, BusinessObjectExtension.company_id,
      postgresql_where=text("field_type IN ('integer', 'decimal')"))
Index("ix_extensions_type_field_company", BusinessObjectExtension.entity_type, BusinessObjectExtension.field_name,
      BusinessObjectExtension.company_id)
Index("idx_validators_active", BusinessObjectValidator.is_active, BusinessObjectValidator.entity_type)
Index("idx_validators_company", BusinessObjectValidator.company_id)
Index("idx_validators_entity", BusinessObjectValidator.entity_type)
Index("idx_companies_date_of_creation", Company.date_of_creation)
Index("idx_companies_framework", Company.framework_version)
Index("idx_companies_stream_status", Company.stream_processing_status)
Index("idx_companies_stream_updated", Company.stream_last_updated)
Index("ix_companies_name", Company.name)
Index("ix_custom_field_definitions_entity", CustomFieldDefinition.entity_type, CustomFieldDefinition.company_id,
      CustomFieldDefinition.position)
Index("idx_partners_framework", Partner.framework_version, Partner.company_id)
Index("idx_products_framework", Product.framework_version)
