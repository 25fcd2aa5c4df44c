"""Extension backups: what a rollback copied aside before dropping a table, a column or enum values.

Revision ID: t0013_extension_backups
Revises: t0012_platform_core
Create Date: 2026-11-29

A forward destructive step keeps its backup inside the migration (its rollback restores it). A rollback
that drops data has no later step to restore from, so it records its backups here, where the extension's
page lists them for download and restore.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0013_extension_backups"
down_revision = "t0012_platform_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extension_backups",
        sa.Column("id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("plugin_id", sa.String(255), nullable=False),
        sa.Column("migration_id", sa.String(255), nullable=False),
        sa.Column("source_table", sa.String(63), nullable=False),
        sa.Column("source_column", sa.String(63)),
        sa.Column("backup_table", sa.String(63), nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("restored_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_extension_backups"),
        sa.UniqueConstraint("backup_table", name="uq_extension_backups_backup_table"),
    )
    op.create_index("ix_extension_backups_plugin_id", "extension_backups", ["plugin_id"])


def downgrade() -> None:
    op.drop_table("extension_backups")
