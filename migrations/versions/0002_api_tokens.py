"""API tokens: a user's named keys for the JSON API, kept as SHA-256 digests.

Revision ID: 0002_api_tokens
Revises: 0001_platform
Create Date: 2026-11-28

Tenant roles get no privilege on this table (a new public table grants nothing to others).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_api_tokens"
down_revision = "0001_platform"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("public.users.id", ondelete="CASCADE",
                                                      name="fk_api_tokens_user_id_users"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("btrim(name) <> ''", name="ck_api_tokens_name_not_blank"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        schema="public",
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"], schema="public")


def downgrade():
    op.drop_table("api_tokens", schema="public")
