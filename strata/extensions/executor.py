"""Running migrations: one transaction under the tenant's advisory lock, with short lock and statement timeouts.

`execute` applies a plugin's pending (or failed, or rolled back) migration; `rollback` runs a
migration's stored rollback. Both first take `pg_advisory_xact_lock` for the tenant, so a second
caller waits and then finds the work done; both verify the record's checksums first, like
Flyway's validate, so an edited record is reported and never run. A failing statement rolls
back the whole transaction (PostgreSQL DDL is transactional) and the error is recorded after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from strata.db import apply_scope, current_scope, db
from strata.errors import FieldError, NotFound, ValidationError
from strata.extensions import ddl, generator, runtime
from strata.extensions.models import ExtensionMigration, ExtensionSchema

LOCK_CLASS = 0x5E7E  # advisory lock namespace of extension migrations; the second key is the tenant id
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Outcome:
    """What an execution or rollback did: the migration, whether it ran now, and a message."""

    migration: ExtensionMigration
    ran: bool
    message: str


def verify(migration: ExtensionMigration) -> list[FieldError]:
    """Return the checksum mismatches of a migration record (empty when it is as generated)."""
    problems = []
    steps = migration.steps or []
    forward = generator.script([s for step in steps for s in step["sql"]])
    backward = generator.script([s for step in reversed(steps) for s in step["rollback"]])
    if migration.checksum_schema not in (generator.schema_checksum(migration.schema_definition),
                                         generator.legacy_schema_checksum(migration.schema_definition)):
        problems.append("the schema definition no longer matches checksum_schema")
    if generator.sql_checksum(migration.migration_sql, migration.rollback_sql) != migration.checksum_sql:
        problems.append("migration_sql or rollback_sql no longer matches checksum_sql")
    if forward != migration.migration_sql or backward != (migration.rollback_sql or ""):
        problems.append("the stored steps differ from migration_sql / rollback_sql")
    return [FieldError("checksum", "checksum", f"Migration {migration.migration_id} was changed after it was "
                       f"generated: {p}.") for p in problems]


def _lock() -> None:
    scope = current_scope()
    if scope is None:
        raise RuntimeError("extension migrations run in a tenant scope")
    db.session.execute(text("SELECT pg_advisory_xact_lock(:c, :t)"), {"c": LOCK_CLASS, "t": scope.tenant_id})
    config = current_app.config
    db.session.execute(text("SELECT set_config('lock_timeout', :l, true), set_config('statement_timeout', :s, true)"),
                       {"l": config["EXTENSIONS_LOCK_TIMEOUT"], "s": config["EXTENSIONS_STATEMENT_TIMEOUT"]})


def _migration(plugin_id: str, migration_id: str | None) -> ExtensionMigration:
    query = select(ExtensionMigration).where(ExtensionMigration.plugin_id == plugin_id)
    if migration_id is not None:
        query = query.where((ExtensionMigration.migration_id == migration_id)
                            | (ExtensionMigration.id == _uuid_or_none(migration_id)))
    # No row lock: the advisory lock already serialises runs, and `_mark_executing` updates the row from
    # a second connection so that other sessions see `executing` while the migration runs.
    found = db.session.scalar(query.order_by(ExtensionMigration.migration_id.desc()).limit(1)
                              .execution_options(populate_existing=True))
    if found is None:
        raise NotFound(f"no migration for {plugin_id!r}")
    return found


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _schema(plugin_id: str) -> ExtensionSchema:
    row = db.session.scalar(select(ExtensionSchema).where(ExtensionSchema.plugin_id == plugin_id)
                            .with_for_update().execution_options(populate_existing=True))
    if row is None:
        raise NotFound(f"no extension {plugin_id!r}")
    return row


def _mark_executing(migration_pk, started: datetime) -> None:
    """Record `executing` in its own short transaction, visible to others while the migration runs."""
    table = ExtensionMigration.__table__
    with db.engine.connect() as connection:
        apply_scope(connection, current_scope())
        connection.execute(update(table).where(table.c.id == migration_pk)
                           .values(status="executing", execution_start=started, error_message=None))
        connection.commit()


def _run(statements: list[tuple[str, str]], progress: Progress | None) -> None:
    for i, (description, statement) in enumerate(statements, 1):
        if progress is not None:
            progress(i, len(statements), description)
        ddl.run(statement)


def _fail(plugin_id: str, migration_pk, started: datetime, message: str, *, executing: bool) -> None:
    """Record a failure in a fresh transaction (the failed one is already rolled back)."""
    migration = db.session.get(ExtensionMigration, migration_pk, populate_existing=True)
    migration.error_message = message
    migration.execution_end = datetime.now(UTC)
    if executing:
        migration.status, migration.execution_start = "failed", started
        row = db.session.scalar(select(ExtensionSchema).where(ExtensionSchema.plugin_id == plugin_id))
        row.status, row.last_error = "failed", message
    db.session.commit()


def _error_text(exc: DBAPIError) -> str:
    original = getattr(exc, "orig", None)
    text_ = str(original or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def execute(plugin_id: str, migration_id: str | None = None, *, progress: Progress | None = None) -> Outcome:
    """Apply the plugin's latest migration unless already applied; ValidationError on checksum or SQL failure."""
    db.session.commit()  # the migration needs a transaction of its own
    _lock()
    migration = _migration(plugin_id, migration_id)
    if migration.status == "executed":
        db.session.commit()
        return Outcome(migration, False, f"Migration {migration.migration_id} is already applied.")
    row = _schema(plugin_id)
    if row.applied_version != migration.from_version:
        db.session.rollback()
        raise ValidationError.single("migration", "order", f"Migration {migration.migration_id} starts from version "
                                     f"{migration.from_version or 'nothing'}, but {row.applied_version or 'nothing'} "
                                     "is installed.")
    problems = verify(migration)
    if problems:
        db.session.rollback()
        raise ValidationError(problems)
    started, pk = datetime.now(UTC), migration.id
    statements = [(step["description"], s) for step in migration.steps for s in step["sql"]]
    _mark_executing(pk, started)  # a run that dies here leaves `executing`; the next holder of the lock retries
    try:
        migration.status, migration.execution_start, migration.error_message = "executing", started, None
        _run(statements, progress)
        _applied(row, migration)
        db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        message = _error_text(exc)
        _fail(plugin_id, pk, started, message, executing=True)
        raise ValidationError.single("migration", "failed", f"Migration {migration.migration_id} failed and "
                                     f"was rolled back: {message}") from None
    return Outcome(migration, True, f"Migration {migration.migration_id} applied ({len(statements)} statements).")


def _applied(row: ExtensionSchema, migration: ExtensionMigration) -> None:
    now = datetime.now(UTC)
    migration.status, migration.execution_end = "executed", now
    row.applied_definition, row.applied_version = migration.schema_definition, migration.version
    row.status, row.last_error, row.activated_at, row.validation_errors = "active", None, now, None
    runtime.changed()


def rollback_preview(plugin_id: str, migration_id: str) -> tuple[ExtensionMigration, list]:
    """Return the migration and the data rolling it back would drop (see `backups.losses`), changing nothing."""
    from strata.extensions import backups

    migration = _migration(plugin_id, migration_id)
    return migration, backups.losses(migration) if migration.status == "executed" else []


def rollback(plugin_id: str, migration_id: str, *, progress: Progress | None = None, allow_destructive: bool = False,
             actor: str | None = None) -> Outcome:
    """Undo an executed migration with its stored rollback SQL; only the latest applied one can be undone.

    A rollback that would drop data (tables or columns holding rows, enum values in use) is refused unless
    `allow_destructive`; with it, the data is first copied to backups (`backups.back_up`) in the same transaction.
    """
    from strata.extensions import backups

    db.session.commit()
    _lock()
    migration = _migration(plugin_id, migration_id)
    if migration.status == "rolled_back":
        db.session.commit()
        return Outcome(migration, False, f"Migration {migration.migration_id} is already rolled back.")
    row = _schema(plugin_id)
    if migration.status != "executed" or row.applied_version != migration.version:
        db.session.rollback()
        raise ValidationError.single("migration", "order", f"Only the installed migration can be rolled back; "
                                     f"{migration.migration_id} is {migration.status}.")
    problems = verify(migration)
    if problems:
        db.session.rollback()
        raise ValidationError(problems)
    found = backups.losses(migration)
    if found and not allow_destructive:
        db.session.rollback()
        raise backups.refusal(migration, found)
    started, pk = datetime.now(UTC), migration.id
    statements = [(f"Undo: {step['description']}", s) for step in reversed(migration.steps) for s in step["rollback"]]
    try:
        kept = backups.back_up(migration, found, actor)
        _run(statements, progress)
        migration.status, migration.execution_end, migration.error_message = "rolled_back", datetime.now(UTC), None
        row.applied_definition, row.applied_version = migration.from_definition, migration.from_version
        row.status = "active" if migration.from_definition else "pending"
        row.last_error = None
        runtime.changed()
        db.session.commit()
    except ValidationError:
        db.session.rollback()
        raise
    except DBAPIError as exc:
        db.session.rollback()
        message = _error_text(exc)
        _fail(plugin_id, pk, started, f"Rollback failed: {message}", executing=False)
        raise ValidationError.single("migration", "failed", f"Rollback of {migration.migration_id} failed and "
                                     f"changed nothing: {message}") from None
    note = f" The dropped data was kept in {len(kept)} backup(s) listed on the extension's page." if kept else ""
    return Outcome(migration, True, f"Migration {migration.migration_id} rolled back.{note}")
