"""Rollbacks that drop data: what they would lose, the backups taken first, and restoring them.

A migration's stored rollback undoes it exactly, which for a migration that created a table, a column,
a relationship or enum values means dropping them with whatever rows were written since. `losses`
reads the rollback statements and the two manifest versions and counts the rows each drop would take;
`executor.rollback` refuses a rollback with any loss unless `allow_destructive`, and then calls
`back_up` inside the same transaction, before the first rollback statement: whole rows are kept as
jsonb (`to_jsonb(t)`), column values with their row id, so a later version of the table can take
them back. Each backup is listed on the extension's page, downloadable as JSON and restorable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from strata.db import db
from strata.errors import NotFound, ValidationError
from strata.extensions import names
from strata.extensions.ddl import render
from strata.extensions.ddl import run as run_statement
from strata.extensions.manifest import Manifest
from strata.extensions.models import ExtensionBackup, ExtensionMigration

# Our own generated statements (identifiers always quoted by psycopg), not user input.
_DROP_TABLE = re.compile(r'^DROP TABLE "([a-z0-9_]+)"$')
_DROP_COLUMN = re.compile(r'^ALTER TABLE "([a-z0-9_]+)" DROP COLUMN "([a-z0-9_]+)"$')


@dataclass(frozen=True)
class Loss:
    """Data a rollback would drop: a table's rows, a column's values, or rows holding removed enum values."""

    table: str
    column: str | None
    rows: int
    labels: tuple[str, ...] = ()
    fill: Any = field(default=None, compare=False)  # what enum-value rows become (the old default), or None
    required: bool = False

    @property
    def description(self) -> str:
        """Return what is lost, in words."""
        if self.labels:
            return (f"{_plural(self.rows, 'row')} of {self.table} whose {self.column} is {', '.join(self.labels)} "
                    "(values the earlier version does not have)")
        if self.column:
            return f"{_plural(self.rows, 'value')} of the column {self.table}.{self.column}"
        return f"the table {self.table} with its {_plural(self.rows, 'row')}"

    def as_json(self) -> dict[str, Any]:
        """Return the loss as the API shows it."""
        return {"table": self.table, "column": self.column, "rows": self.rows, "enumValues": list(self.labels),
                "description": self.description}


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _exists(table: str, column: str | None = None) -> bool:
    if column is None:
        return db.session.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})
    return bool(db.session.scalar(text(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attname = :c AND NOT attisdropped"),
        {"t": table, "c": column}))


def _count(table: str, column: str | None = None, labels: tuple[str, ...] = ()) -> int:
    """Return the rows of `table`, those with `column` set, or those whose `column` holds one of `labels`."""
    if column is None:
        return db.session.scalar(text(render("SELECT count(*) FROM {}", table)))
    if not labels:
        return db.session.scalar(text(render("SELECT count(*) FROM {} WHERE {} IS NOT NULL", table, column)))
    return db.session.scalar(text(render("SELECT count(*) FROM {} WHERE {}::text = ANY(:labels)", table, column)),
                             {"labels": list(labels)})


def _enum_losses(migration: ExtensionMigration) -> list[Loss]:
    if not migration.from_definition:
        return []
    new, old = Manifest.model_validate(migration.schema_definition), Manifest.model_validate(migration.from_definition)
    found = []
    for enum in new.enums:
        before = old.enum(enum.name)
        added = tuple(v for v in enum.values if before is not None and v not in before.values)
        if not added:
            continue
        for table in new.tables:
            old_table = old.table(table.name)
            t = names.table_name(new.metadata.namespace, table.name)
            for f in table.fields:
                old_field = old_table.field(f.name) if old_table is not None else None
                if f.type != enum.name or old_field is None or old_field.type != enum.name or not _exists(t, f.name):
                    continue
                rows = _count(t, f.name, added)
                if rows:
                    found.append(Loss(t, f.name, rows, added, old_field.default, old_field.required))
    return found


def losses(migration: ExtensionMigration) -> list[Loss]:
    """Return the data rolling `migration` back would drop (tables, columns, enum values in use), with row counts."""
    found = []
    for step in reversed(migration.steps or []):
        for statement in step["rollback"]:
            if match := _DROP_TABLE.match(statement):
                table = match.group(1)
                if not table.startswith("ext_backup_") and _exists(table) and (rows := _count(table)):
                    found.append(Loss(table, None, rows))
            elif match := _DROP_COLUMN.match(statement):
                table, column = match.groups()
                if _exists(table, column) and (rows := _count(table, column)):
                    found.append(Loss(table, column, rows))
    return found + _enum_losses(migration)


def refusal(migration: ExtensionMigration, found: list[Loss]) -> ValidationError:
    """Return the error that refuses a rollback losing `found` without allow_destructive."""
    return ValidationError.single(
        "allow_destructive", "destructive",
        f"Rolling back {migration.migration_id} would drop {'; '.join(loss.description for loss in found)}. "
        "Export the data first, or confirm with allow_destructive: the data is then copied to a backup you can "
        "download or restore from the extension's page.")


def back_up(migration: ExtensionMigration, found: list[Loss], actor: str | None) -> list[ExtensionBackup]:
    """Copy every loss aside (and clear enum values the earlier version lacks); call inside the rollback."""
    made = []
    for loss in found:
        what = f"{loss.column or '*'}:{','.join(loss.labels)}"
        backup = names.backup_name(f"{migration.migration_id}:rollback:{datetime.now(UTC).isoformat()}",
                                   loss.table, what)
        if loss.labels:
            if loss.required and loss.fill is None:
                raise ValidationError.single(
                    "allow_destructive", "required",
                    f"Rolling back {migration.migration_id} removes {', '.join(loss.labels)} from {loss.table}."
                    f"{loss.column}, which the earlier version requires and has no default for; change those "
                    f"{loss.rows} rows first.")
            run_statement(render("CREATE TABLE {} AS SELECT id, to_jsonb({}) AS value FROM {} WHERE {}::text = ANY({})",
                                 backup, loss.column, loss.table, loss.column, _labels(loss.labels)))
            fill = _literal(loss.fill)
            run_statement(render("UPDATE {} SET {} = {} WHERE {}::text = ANY({})", loss.table, loss.column, fill,
                                 loss.column, _labels(loss.labels)))
        elif loss.column:
            run_statement(render("CREATE TABLE {} AS SELECT id, to_jsonb({}) AS value FROM {} WHERE {} IS NOT NULL",
                                 backup, loss.column, loss.table, loss.column))
        else:
            run_statement(render("CREATE TABLE {} AS SELECT to_jsonb(t) AS row FROM {} AS t", backup, loss.table))
        row = ExtensionBackup(plugin_id=migration.plugin_id, migration_id=migration.migration_id,
                              source_table=loss.table, source_column=loss.column, backup_table=backup,
                              row_count=loss.rows, reason=f"Rollback of {migration.migration_id} dropped "
                              f"{loss.description}.", created_by=actor)
        db.session.add(row)
        made.append(row)
    db.session.flush()
    return made


def _labels(labels: tuple[str, ...]):
    from psycopg import sql

    return sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(v) for v in labels))


def _literal(value: Any):
    from psycopg import sql

    return sql.SQL("NULL") if value is None else sql.Literal(value)


def list_for(plugin_id: str) -> list[ExtensionBackup]:
    """Return the plugin's rollback backups, newest first."""
    query = (select(ExtensionBackup).where(ExtensionBackup.plugin_id == plugin_id)
             .order_by(ExtensionBackup.created_at.desc()))
    return list(db.session.scalars(query))


def get(plugin_id: str, backup_id: str) -> ExtensionBackup:
    """Return one backup of the plugin; raise NotFound."""
    import uuid

    try:
        key = uuid.UUID(str(backup_id))
    except ValueError:
        raise NotFound(f"no backup {backup_id!r}") from None
    found = db.session.get(ExtensionBackup, key)
    if found is None or found.plugin_id != plugin_id:
        raise NotFound(f"no backup {backup_id!r}")
    return found


def rows(backup: ExtensionBackup) -> list[dict[str, Any]]:
    """Return the backup's content: whole rows, or {id, value} pairs for a column."""
    if backup.source_column is None:
        return list(db.session.scalars(text(render("SELECT row FROM {}", backup.backup_table))))
    result = db.session.execute(text(render("SELECT id::text AS id, value FROM {}", backup.backup_table)))
    return [dict(r) for r in result.mappings()]


def restore(backup: ExtensionBackup) -> int:
    """Put a backup's data back into its table (rows that exist are left alone); return rows restored."""
    t, column = backup.source_table, backup.source_column
    if not _exists(t, column):
        where = f"{t}.{column}" if column else t
        raise ValidationError.single("backup", "missing", f"{where} does not exist now; apply a version of the "
                                     "extension that has it, then restore.")
    if column is None:
        statement = render("INSERT INTO {} SELECT (jsonb_populate_record(NULL::{}, b.row)).* FROM {} AS b "
                           "ON CONFLICT DO NOTHING", t, t, backup.backup_table)
    else:
        statement = render("UPDATE {} AS t SET {} = (jsonb_populate_record(NULL::{}, jsonb_build_object({}, b.value)))"
                           ".{} FROM {} AS b WHERE b.id = t.id", t, column, t, _text(column), column,
                           backup.backup_table)
    try:
        with db.session.begin_nested():
            count = db.session.execute(text(statement)).rowcount
    except Exception as exc:  # a row that no longer fits the table: report, change nothing
        message = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ValidationError.single("backup", "restore", f"The backup cannot be restored as it is: {message}") \
            from None
    backup.restored_at = datetime.now(UTC)
    db.session.flush()
    return count


def _text(value: str):
    from psycopg import sql

    return sql.Literal(value)
