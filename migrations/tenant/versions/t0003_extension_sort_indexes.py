"""Custom field sorts and range filters from an index: typed expression indexes on the extension table.

Revision ID: t0003_extension_sort_indexes
Revises: t0002_business_objects
Create Date: 2026-11-22

A list filtered or sorted by a custom field joins business_object_extensions on
(entity_type, field_name) and compares the value as its type (see strata/business_objects/query.py).
These partial indexes hold exactly those typed expressions, per field type, so the planner can
range-scan a filter and read a sort in order instead of reading, casting and sorting every value:

- integer and decimal values as `field_value::numeric`;
- date values as their JSON text (`"YYYY-MM-DD"`) in the "C" collation, whose byte order is date
  order (the cast to date is not immutable, so it cannot be indexed).

Each is partial on the field types it holds, so a long text or json value never reaches the btree
(row size limit), and the cast never sees another type's text. company_id rides along so that the
`company_id IS NULL` / `= :id` part of the join is checked in the index.
"""

import sqlalchemy as sa
from alembic import op

revision = "t0003_extension_sort_indexes"
down_revision = "t0002_business_objects"
branch_labels = None
depends_on = None

TABLE = "business_object_extensions"


def upgrade():
    value = sa.column("field_value", sa.Text)
    op.create_index("ix_extensions_numeric_value", TABLE,
                    [sa.column("entity_type"), sa.column("field_name"), sa.cast(value, sa.Numeric),
                     sa.column("entity_id"), sa.column("company_id")],
                    postgresql_where=sa.text("field_type IN ('integer', 'decimal')"))
    op.create_index("ix_extensions_date_value", TABLE,
                    [sa.column("entity_type"), sa.column("field_name"), value.collate("C"),
                     sa.column("entity_id"), sa.column("company_id")],
                    postgresql_where=sa.text("field_type = 'date'"))


def downgrade():
    op.drop_index("ix_extensions_date_value", table_name=TABLE)
    op.drop_index("ix_extensions_numeric_value", table_name=TABLE)
