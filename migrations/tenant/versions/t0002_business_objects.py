"""Business objects: companies, partners, products, custom fields, their values and validators.

Revision ID: t0002_business_objects
Revises: t0001_audit_logs
Create Date: 2026-11-22

business_object_extensions and business_object_validators follow seed 000 column for
column (PostgreSQL types; field_value is TEXT holding JSON). Their unique constraints
use NULLS NOT DISTINCT because company_id is NULL for tenant-wide rows.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t0002_business_objects"
down_revision = "t0001_audit_logs"
branch_labels = None
depends_on = None

ENTITY_TYPES = "('company', 'partner', 'product')"
FIELD_TYPES = ("('string', 'text', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'email', 'url', "
               "'select', 'multiselect', 'json')")
VALIDATOR_TYPES = "('required', 'format', 'range', 'custom')"


def _created_by(table: str) -> sa.Column:
    return sa.Column("created_by", sa.Integer, sa.ForeignKey("public.users.id", ondelete="SET NULL",
                                                            name=f"fk_{table}_created_by_users"))


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _company_fk(table: str) -> sa.Column:
    return sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE",
                                                            name=f"fk_{table}_company_id_companies"))


def _framework_version() -> sa.Column:
    return sa.Column("framework_version", sa.String(10), nullable=False, server_default="1.0")


def _core_tables() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company_number", sa.String(20)),
        _framework_version(), _created_by("companies"), *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
        sa.UniqueConstraint("company_number", name="uq_companies_company_number"),
    )
    op.create_index("idx_companies_framework", "companies", ["framework_version"])
    op.create_index("ix_companies_name", "companies", ["name"])
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="RESTRICT",
                                                          name="fk_partners_company_id_companies"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254)),
        _framework_version(), _created_by("partners"), *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_partners"),
    )
    op.create_index("idx_partners_framework", "partners", ["framework_version", "company_id"])
    op.create_index("ix_partners_company_id", "partners", ["company_id"])
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sku", sa.String(64)),
        sa.Column("price", sa.Numeric(14, 2)),
        _framework_version(), _created_by("products"), *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.CheckConstraint("price IS NULL OR price >= 0", name="ck_products_price_not_negative"),
    )
    op.create_index("idx_products_framework", "products", ["framework_version"])


def _custom_field_definitions() -> None:
    op.create_table(
        "custom_field_definitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_type", sa.String(100), nullable=False),
        _company_fk("custom_field_definitions"),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("field_type", sa.String(50), nullable=False),
        sa.Column("help_text", sa.Text, nullable=False, server_default=""),
        sa.Column("default_value", JSONB),
        sa.Column("options", JSONB),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        _created_by("custom_field_definitions"), *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_custom_field_definitions"),
        sa.UniqueConstraint("entity_type", "company_id", "name", name="uq_custom_field_definitions_scope_name",
                            postgresql_nulls_not_distinct=True),
        sa.CheckConstraint(f"entity_type IN {ENTITY_TYPES}", name="ck_custom_field_definitions_entity_type"),
        sa.CheckConstraint(f"field_type IN {FIELD_TYPES}", name="ck_custom_field_definitions_field_type"),
        sa.CheckConstraint("name ~ '^[a-z][a-z0-9_]{0,62}$'", name="ck_custom_field_definitions_name"),
    )
    op.create_index("ix_custom_field_definitions_entity", "custom_field_definitions",
                    ["entity_type", "company_id", "position"])


def _extensions() -> None:
    op.create_table(
        "business_object_extensions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_type", sa.String(100), nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=False),
        _company_fk("business_object_extensions"),
        sa.Column("field_name", sa.String(100), nullable=False),
        sa.Column("field_type", sa.String(50), nullable=False, server_default="string"),
        sa.Column("field_value", sa.Text),
        *_timestamps(), _created_by("business_object_extensions"),
        sa.PrimaryKeyConstraint("id", name="pk_business_object_extensions"),
        sa.UniqueConstraint("entity_type", "entity_id", "field_name", "company_id",
                            name="uq_extensions_entity_field", postgresql_nulls_not_distinct=True),
    )
    op.create_index("idx_extensions_entity", "business_object_extensions", ["entity_type", "entity_id"])
    op.create_index("idx_extensions_company", "business_object_extensions", ["company_id"])
    op.create_index("idx_extensions_field", "business_object_extensions", ["field_name"])
    # Filtering / sorting a list by one custom field. field_value itself stays out: a long text or
    # json value would exceed the btree row limit and make the insert fail.
    op.create_index("ix_extensions_type_field_company", "business_object_extensions",
                    ["entity_type", "field_name", "company_id"])


def _validators() -> None:
    op.create_table(
        "business_object_validators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_type", sa.String(100), nullable=False),
        _company_fk("business_object_validators"),
        sa.Column("validator_name", sa.String(100), nullable=False),
        sa.Column("validator_type", sa.String(50), nullable=False, server_default="custom"),
        sa.Column("field_name", sa.String(100)),
        sa.Column("validator_config", sa.Text),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        *_timestamps(), _created_by("business_object_validators"),
        sa.PrimaryKeyConstraint("id", name="pk_business_object_validators"),
        sa.UniqueConstraint("entity_type", "company_id", "validator_name", "field_name",
                            name="uq_validators_entity_name", postgresql_nulls_not_distinct=True),
        sa.CheckConstraint(f"validator_type IN {VALIDATOR_TYPES}", name="ck_business_object_validators_type"),
    )
    op.create_index("idx_validators_entity", "business_object_validators", ["entity_type"])
    op.create_index("idx_validators_company", "business_object_validators", ["company_id"])
    op.create_index("idx_validators_active", "business_object_validators", ["is_active", "entity_type"])


def upgrade():
    _core_tables()
    _custom_field_definitions()
    _extensions()
    _validators()


def downgrade():
    for table in ("business_object_validators", "business_object_extensions", "custom_field_definitions",
                  "products", "partners", "companies"):
        op.drop_table(table)
