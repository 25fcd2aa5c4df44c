"""Planning a migration: resolve targets, look at the data, generate the steps, store them as `pending`."""

from __future__ import annotations

from sqlalchemy import func, select, text

from strata.errors import FieldError, ValidationError
from strata.extensions import catalog, generator, names
from strata.extensions.ddl import ident
from strata.extensions.manifest import Manifest
from strata.extensions.models import ExtensionMigration, ExtensionSchema


def next_migration_id(plugin_id: str, version: str) -> str:
    """Return the next migration id of a plugin, e.g. 0003_1.2.0."""
    from strata.db import db

    count = db.session.scalar(select(func.count()).where(ExtensionMigration.plugin_id == plugin_id)) or 0
    return f"{count + 1:04d}_{version}"


def count_duplicates(table: str, fields: tuple[str, ...]) -> int:
    """Return how many rows of `table` repeat an earlier row's non-null values of `fields`."""
    from strata.db import db

    cols = ", ".join(ident(f) for f in fields)
    present = " AND ".join(f"{ident(f)} IS NOT NULL" for f in fields)
    statement = text(f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {ident(table)} "  # noqa: S608
                     f"WHERE {present} GROUP BY {cols} HAVING count(*) > 1) AS d")
    return int(db.session.scalar(statement) or 0)


def _duplicates(old: Manifest | None, new: Manifest) -> dict[tuple[str, tuple[str, ...]], int]:
    """Count duplicates for each unique constraint that is new on a table that already has rows."""
    found = {}
    if old is None:
        return found
    for table in new.tables:
        old_table = old.table(table.name)
        if old_table is None:
            continue
        physical = names.table_name(new.metadata.namespace, table.name)
        old_fields = {f.name for f in old_table.fields}
        keys = [tuple(u.fields) for u in table.uniqueConstraints] + [tuple(i.fields) for i in table.indexes if i.unique]
        for fields in keys:
            if set(fields) <= old_fields | set(names.SYSTEM_COLUMNS):
                found[(physical, fields)] = count_duplicates(physical, fields)
    return found


def _column_limits(old: Manifest | None, new: Manifest) -> list[FieldError]:
    """Refuse added columns that would pass 1,600 column slots (dropped columns still count in PostgreSQL)."""
    errors = []
    if old is None:
        return errors
    for i, table in enumerate(new.tables):
        old_table = old.table(table.name)
        if old_table is None:
            continue
        added = len({f.name for f in table.fields} - {f.name for f in old_table.fields})
        used = catalog.attribute_count(names.table_name(new.metadata.namespace, table.name))
        if added and used + added > names.MAX_COLUMNS:
            errors.append(FieldError(f"tables[{i}].fields", "max_columns", f"tables[{i}]: {used} column slots are used "
                                     f"(dropped columns count too) and {added} more would pass PostgreSQL's "
                                     f"{names.MAX_COLUMNS}."))
    return errors


def plan(row: ExtensionSchema, old: Manifest | None, new: Manifest, migration_id: str) -> generator.Plan:
    """Return the generated plan from `old` to `new`; ValidationError for refused changes."""
    from strata.extensions.registry import resolve_targets

    new_targets, errors = resolve_targets(new, row.plugin_id)
    old_targets = resolve_targets(old, row.plugin_id)[0] if old is not None else {}
    errors += _column_limits(old, new)
    if errors:
        raise ValidationError(errors)
    result = generator.generate(old, new, migration_id=migration_id, old_targets=old_targets, new_targets=new_targets,
                                duplicates=_duplicates(old, new))
    if result.refusals:
        raise ValidationError(result.refusals)
    return result


def refuse_destructive(result: generator.Plan) -> None:
    """Raise ValidationError explaining each destructive step (rule `destructive`)."""
    raise ValidationError([FieldError("allow_destructive", "destructive", f"This change {step.destructive}. "
                                      "Set allow_destructive to apply it.") for step in result.destructive()])


def plan_migration(row: ExtensionSchema, old: Manifest | None, new: Manifest, *,
                   allow_destructive: bool = False) -> ExtensionMigration:
    """Generate and store the pending migration from `old` to `new`; ValidationError if refused or destructive."""
    from strata.db import db

    db.session.flush()
    migration_id = next_migration_id(row.plugin_id, new.version)
    result = plan(row, old, new, migration_id)
    if result.destructive() and not allow_destructive:
        refuse_destructive(result)
    forward, backward = generator.script(result.forward()), generator.script(result.backward())
    definition = new.definition()
    migration = ExtensionMigration(
        plugin_id=row.plugin_id, migration_id=migration_id, version=new.version,
        from_version=old.version if old else None, migration_sql=forward, rollback_sql=backward,
        steps=result.as_json(), schema_definition=definition, from_definition=old.definition() if old else None,
        allow_destructive=allow_destructive, checksum_schema=generator.schema_checksum(definition),
        checksum_sql=generator.sql_checksum(forward, backward), status="pending")
    db.session.add(migration)
    db.session.flush()
    return migration
