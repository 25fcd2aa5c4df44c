"""Housekeeping: a platform-wide index of due work, so periodic jobs enter only tenants with something due.

`housekeeping_due` has one row per tenant schema and kind of work that the periodic jobs must
look at: `schedule` (the earliest next run of an active report schedule), `segments` (report
runs in progress, which the segment sweep watches) and `streams` (enabled streams, which the
stream supervisor keeps consumed). Triggers in each tenant schema (tenant revision
t0014_housekeeping) keep the rows current as the tenant writes; a tenant role may read and
write only the rows of the schema it owns (row level security).

Revision ID: 0004_housekeeping
Revises: 0003_accounts
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_housekeeping"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "housekeeping_due",
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("schema_name", "kind", name="pk_housekeeping_due"),
        sa.ForeignKeyConstraint(["schema_name"], ["public.tenants.schema_name"], ondelete="CASCADE",
                                name="fk_housekeeping_due_schema_name_tenants"),
        sa.CheckConstraint("kind IN ('schedule', 'segments', 'streams')", name="ck_housekeeping_due_kind"),
        schema="public",
    )
    op.create_index("ix_housekeeping_due_kind_due_at", "housekeeping_due", ["kind", "due_at"], schema="public")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON public.housekeeping_due TO strata_tenant")
    op.execute("ALTER TABLE public.housekeeping_due ENABLE ROW LEVEL SECURITY")
    # A tenant role owns its schema and nothing else: that is the row's owner.
    op.execute(
        "CREATE POLICY own_schema ON public.housekeeping_due TO strata_tenant "
        "USING (schema_name = ANY (SELECT nspname FROM pg_catalog.pg_namespace "
        "WHERE nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user))) "
        "WITH CHECK (schema_name = ANY (SELECT nspname FROM pg_catalog.pg_namespace "
        "WHERE nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)))"
    )


def downgrade() -> None:
    op.drop_table("housekeeping_due", schema="public")
