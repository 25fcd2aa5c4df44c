"""Companies House resources from every stream: filings, officers, PSCs and statements, charges,
insolvency, exemptions and disqualifications.

Revision ID: t0010_stream_resources
Revises: t0009_values
Create Date: 2026-11-29

One table per kind of resource, keyed by the resource's own id (`resource_id` of the stream event),
with the company number it belongs to (none for a natural disqualified officer), its latest data, a
tombstone flag for deletes and the stream position that wrote it (latest timepoint wins).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t0010_stream_resources"
down_revision = "t0009_values"
branch_labels = None
depends_on = None

TABLES = ("company_filings", "company_officers", "company_pscs", "company_psc_statements", "company_charges",
          "company_insolvency", "company_exemptions", "officer_disqualifications")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for name in TABLES:
        op.create_table(
            name,
            sa.Column("resource_id", sa.Text, nullable=False),
            sa.Column("resource_kind", sa.Text, nullable=False),
            sa.Column("company_number", sa.Text),
            sa.Column("data", JSONB),
            sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("stream_timepoint", sa.BigInteger, nullable=False),
            sa.Column("stream_event_id", sa.Text, nullable=False),
            sa.Column("published_at", sa.DateTime),
            sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
            sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
            sa.PrimaryKeyConstraint("resource_id", name=f"pk_{name}"),
        )
        op.create_index(f"idx_{name}_company", name, ["company_number"])


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
