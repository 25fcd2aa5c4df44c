"""Extension registry: extension_schemas and extension_migrations (seed 003).

Revision ID: t0006_extensions
Revises: t0005_streams
Create Date: 2026-11-22

Columns follow seed 003. Beyond it: extension_schemas keeps the definition that is
installed (`applied_version`, `applied_definition`; the registered one may be a newer,
not yet executed version), and extension_migrations keeps the version it starts from,
its statements one by one (`steps`, each with its rollback) and `allow_destructive`.
A disabled extension has `deactivated_at` set; its data stays.
"""

import sqlalchemy as sa
from alembic import op
from psycopg import sql
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0006_extensions"
down_revision = "t0005_streams"
branch_labels = None
depends_on = None

SCHEMA_STATUSES = "('pending', 'validating', 'active', 'failed')"
MIGRATION_STATUSES = "('pending', 'executing', 'executed', 'failed', 'rolled_back')"


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    op.create_table(
        "extension_schemas",
        sa.Column("id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("plugin_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("schema_definition", JSONB, nullable=False),
        sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
        sa.Column("validation_errors", JSONB),
        sa.Column("applied_version", sa.String(50)),
        sa.Column("applied_definition", JSONB),
        sa.Column("registered_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.Column("deactivated_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_by", sa.String(255)),
        sa.Column("updated_by", sa.String(255)),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_extension_schemas"),
        sa.UniqueConstraint("plugin_id", name="uq_extension_schemas_plugin_id"),
        sa.CheckConstraint(f"status IN {SCHEMA_STATUSES}", name="ck_extension_schemas_valid_status"),
    )
    op.create_index("idx_extension_schemas_status", "extension_schemas", ["status"])
    op.create_table(
        "extension_migrations",
        sa.Column("id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("plugin_id", sa.String(255), nullable=False),
        sa.Column("migration_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("from_version", sa.String(50)),
        sa.Column("migration_sql", sa.Text, nullable=False),
        sa.Column("rollback_sql", sa.Text),
        sa.Column("steps", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("schema_definition", JSONB, nullable=False),
        sa.Column("from_definition", JSONB),
        sa.Column("allow_destructive", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("checksum_schema", sa.String(64)),
        sa.Column("checksum_sql", sa.String(64)),
        sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
        sa.Column("execution_start", sa.DateTime(timezone=True)),
        sa.Column("execution_end", sa.DateTime(timezone=True)),
        sa.Column("error_message", sa.Text),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_extension_migrations"),
        sa.UniqueConstraint("plugin_id", "migration_id", name="uq_extension_migrations_plugin_id_migration_id"),
        sa.CheckConstraint(f"status IN {MIGRATION_STATUSES}", name="ck_extension_migrations_valid_status"),
    )
    op.create_index("idx_extension_migrations_plugin_status", "extension_migrations", ["plugin_id", "status"])
    op.create_index("idx_extension_migrations_created", "extension_migrations", ["created_at"])


_DROPS = {"TABLE": sql.SQL("DROP TABLE IF EXISTS {} CASCADE"), "TYPE": sql.SQL("DROP TYPE IF EXISTS {} CASCADE")}


def _drop(kind: str, name: str) -> None:
    op.execute(_DROPS[kind].format(sql.Identifier(name)).as_string(None))


def downgrade() -> None:
    """Drop the registry and everything installed through it (tables, join tables, enums, backups)."""
    bind = op.get_bind()
    for (definition,) in bind.execute(sa.text("SELECT applied_definition FROM extension_schemas "
                                              "WHERE applied_definition IS NOT NULL")):
        namespace = definition["metadata"]["namespace"]
        for rel in definition.get("relationships", []):
            if rel["type"] == "ManyToMany":
                _drop("TABLE", f"plugin_{namespace}_{rel['source']}_{rel['sourceField']}")
        for table in definition.get("tables", []):
            _drop("TABLE", f"plugin_{namespace}_{table['name']}")
        for enum in definition.get("enums", []):
            _drop("TYPE", f"plugin_{namespace}_{enum['name']}")
    backups = bind.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                   "AND tablename LIKE 'ext\\_backup\\_%'"))
    for (name,) in backups:
        _drop("TABLE", name)
    op.drop_table("extension_migrations")
    op.drop_table("extension_schemas")
