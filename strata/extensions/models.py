"""The extension registry tables (tenant schema); mirrors migration `t0006_extensions`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import TimestampMixin, db

SCHEMA_STATUSES = ("pending", "validating", "active", "failed")
MIGRATION_STATUSES = ("pending", "executing", "executed", "failed", "rolled_back")


class ExtensionSchema(TimestampMixin, db.Model):
    """A plugin's registered manifest, and the version of it that is installed (if any)."""

    __tablename__ = "extension_schemas"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True,
                                          server_default=text("gen_random_uuid()"))
    plugin_id: Mapped[str] = mapped_column(String(255), unique=True)
    version: Mapped[str] = mapped_column(String(50))
    schema_definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(50), default="pending", server_default="pending")
    validation_errors: Mapped[list[dict] | None] = mapped_column(JSONB(none_as_null=True))
    applied_version: Mapped[str | None] = mapped_column(String(50))
    applied_definition: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    updated_by: Mapped[str | None] = mapped_column(String(255))

    @property
    def enabled(self) -> bool:
        """True unless the extension was disabled (its API hidden, its data kept)."""
        return self.deactivated_at is None


class ExtensionMigration(TimestampMixin, db.Model):
    """One generated migration of a plugin from `from_version` to `version`, with its rollback."""

    __tablename__ = "extension_migrations"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True,
                                          server_default=text("gen_random_uuid()"))
    plugin_id: Mapped[str] = mapped_column(String(255))
    migration_id: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(50))
    from_version: Mapped[str | None] = mapped_column(String(50))
    migration_sql: Mapped[str] = mapped_column(Text)
    rollback_sql: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    schema_definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    from_definition: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    allow_destructive: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    checksum_schema: Mapped[str | None] = mapped_column(String(64))
    checksum_sql: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(50), default="pending", server_default="pending")
    execution_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    execution_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)


class ExtensionBackup(db.Model):
    """Data a rollback copied aside before dropping it: a whole table's rows or one column's values."""

    __tablename__ = "extension_backups"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True,
                                          server_default=text("gen_random_uuid()"))
    plugin_id: Mapped[str] = mapped_column(String(255), index=True)
    migration_id: Mapped[str] = mapped_column(String(255))
    source_table: Mapped[str] = mapped_column(String(63))
    source_column: Mapped[str | None] = mapped_column(String(63))
    backup_table: Mapped[str] = mapped_column(String(63), unique=True)
    row_count: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("idx_extension_migrations_created", ExtensionMigration.created_at)
Index("idx_extension_migrations_plugin_status", ExtensionMigration.plugin_id, ExtensionMigration.status)
ExtensionMigration.__table__.append_constraint(
    UniqueConstraint("plugin_id", "migration_id", name="uq_extension_migrations_plugin_id_migration_id"))
Index("idx_extension_schemas_status", ExtensionSchema.status)
