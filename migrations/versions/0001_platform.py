"""Platform tables: tenants, users, memberships; the tenant group role and its grants.

Revision ID: 0001_platform
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_platform"
down_revision = None
branch_labels = None
depends_on = None



def upgrade():
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("db_role", sa.String(63), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_tenants_status"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
        sa.UniqueConstraint("schema_name", name="uq_tenants_schema_name"),
        sa.UniqueConstraint("db_role", name="uq_tenants_db_role"),
        schema="public",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_platform_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("email", name="uq_users_email"),
        schema="public",
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("public.users.id", ondelete="CASCADE",
                                                      name="fk_memberships_user_id_users"), nullable=False),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("public.tenants.id", ondelete="CASCADE",
                                                        name="fk_memberships_tenant_id_tenants"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="ck_memberships_role"),
        sa.UniqueConstraint("user_id", "tenant_id", name="uq_memberships_user_id_tenant_id"),
        schema="public",
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"], schema="public")
    op.create_index("ix_memberships_tenant_id", "memberships", ["tenant_id"], schema="public")

    # Every tenant role is a member of strata_tenant, which may read these columns and nothing else
    # of the platform tables (roles are cluster-wide, so create it only when missing).
    op.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strata_tenant') "
        "THEN CREATE ROLE strata_tenant NOLOGIN; END IF; END $$"
    )
    op.execute("GRANT USAGE ON SCHEMA public TO strata_tenant")
    op.execute("GRANT SELECT (id, email, name, is_platform_admin, is_active, created_at, last_login_at) "
               "ON public.users TO strata_tenant")
    op.execute("GRANT REFERENCES (id) ON public.users TO strata_tenant")
    op.execute("GRANT SELECT (id, slug, name, schema_name, db_role, status, timezone, created_at) "
               "ON public.tenants TO strata_tenant")


def downgrade():
    op.execute("REVOKE ALL ON public.users, public.tenants FROM strata_tenant")
    op.drop_table("memberships", schema="public")
    op.drop_table("users", schema="public")
    op.drop_table("tenants", schema="public")
