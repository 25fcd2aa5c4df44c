"""Accounts: server-side sessions, remember tokens, email verification, invitations, two-factor.

Revision ID: 0003_accounts
Revises: 0002_api_tokens
Create Date: 2026-11-29

Also narrows what tenant roles see of people: of `public.users` only the rows of their own
tenant's members (row-level security) and never a password or two-factor column; the
security-barrier view `public.tenant_members` gives their names, emails and roles.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts"
down_revision = "0002_api_tokens"
branch_labels = None
depends_on = None


def _user_fk(table: str, column: str = "user_id", ondelete: str = "CASCADE"):
    return sa.Column(column, sa.Integer, sa.ForeignKey("public.users.id", ondelete=ondelete,
                                                       name=f"fk_{table}_{column}_users"),
                     nullable=ondelete != "CASCADE")


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)), schema="public")
    op.add_column("users", sa.Column("totp_secret", sa.String(64)), schema="public")
    op.add_column("users", sa.Column("totp_enabled_at", sa.DateTime(timezone=True)), schema="public")
    op.add_column("users", sa.Column("totp_last_counter", sa.BigInteger), schema="public")
    op.add_column("users", sa.Column("recovery_code_hashes", sa.ARRAY(sa.String(64)), nullable=False,
                                     server_default="{}"), schema="public")
    # Accounts made before verification existed were vouched for by whoever made them.
    op.execute("UPDATE public.users SET email_verified_at = created_at")

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        _user_fk("user_sessions"),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("key_hash", name="uq_user_sessions_key_hash"),
        schema="public",
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"], schema="public")

    op.create_table(
        "remember_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        _user_fk("remember_tokens"),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("token_hash", name="uq_remember_tokens_token_hash"),
        schema="public",
    )
    op.create_index("ix_remember_tokens_user_id", "remember_tokens", ["user_id"], schema="public")
    op.create_index("ix_remember_tokens_previous_hash", "remember_tokens", ["previous_hash"], schema="public")

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("public.tenants.id", ondelete="CASCADE",
                                                        name="fk_invitations_tenant_id_tenants"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _user_fk("invitations", "invited_by", "SET NULL"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        _user_fk("invitations", "accepted_by", "SET NULL"),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="ck_invitations_role"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        schema="public",
    )
    op.create_index("ix_invitations_tenant_id", "invitations", ["tenant_id"], schema="public")
    op.create_index("uq_invitations_pending", "invitations", ["tenant_id", "email"], unique=True, schema="public",
                    postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"))

    # Tenant roles: of users, the rows of their own tenant's members only (row-level security; the
    # login role owns the table and is not subject to it; foreign-key checks bypass it), never the
    # password or two-factor columns, and the REFERENCES their tables' foreign keys need.
    op.execute("REVOKE ALL ON public.users FROM strata_tenant")
    op.execute("GRANT SELECT (id, email, name, is_platform_admin, is_active, created_at, last_login_at, "
               "email_verified_at, totp_enabled_at) ON public.users TO strata_tenant")
    op.execute("GRANT REFERENCES (id) ON public.users TO strata_tenant")
    op.execute(
        "CREATE VIEW public.tenant_members WITH (security_barrier) AS "
        "SELECT u.id, u.name, u.email, m.role FROM public.users u "
        "JOIN public.memberships m ON m.user_id = u.id "
        "JOIN public.tenants t ON t.id = m.tenant_id "
        "WHERE t.db_role = current_user"
    )
    op.execute("GRANT SELECT ON public.tenant_members TO strata_tenant")
    op.execute("ALTER TABLE public.users ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant_members_only ON public.users FOR SELECT TO strata_tenant "
               "USING (id IN (SELECT id FROM public.tenant_members))")


def downgrade() -> None:
    op.execute("DROP POLICY tenant_members_only ON public.users")
    op.execute("ALTER TABLE public.users DISABLE ROW LEVEL SECURITY")
    op.execute("DROP VIEW public.tenant_members")
    op.execute("GRANT SELECT (id, email, name, is_platform_admin, is_active, created_at, last_login_at) "
               "ON public.users TO strata_tenant")
    op.drop_table("invitations", schema="public")
    op.drop_table("remember_tokens", schema="public")
    op.drop_table("user_sessions", schema="public")
    for column in ("recovery_code_hashes", "totp_last_counter", "totp_enabled_at", "totp_secret",
                   "email_verified_at"):
        op.drop_column("users", column, schema="public")
