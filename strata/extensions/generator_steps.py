"""The phases of a migration plan, in the order `generator.generate` runs them."""

from __future__ import annotations

from psycopg import sql

from strata.extensions import ddl, names
from strata.extensions.ddl import render
from strata.extensions.generator import WIDENING, Context, enum_recreate, in_list
from strata.extensions.manifest import Manifest

FK_TYPES = ("OneToOne", "OneToMany")


def _rels(manifest: Manifest | None) -> dict[tuple[str, str], tuple[int, object]]:
    if manifest is None:
        return {}
    return {(r.source, r.sourceField): (i, r) for i, r in enumerate(manifest.relationships)}


def _same_link(ctx: Context, old_i: int, old_rel, new_i: int, new_rel) -> bool:
    return (old_rel.type == new_rel.type and ctx.old_targets.get(old_i) == ctx.new_targets.get(new_i))


def _fk_column(ctx: Context, manifest: Manifest, i: int, rel, targets) -> tuple[list[str], list[str]]:
    """Return (add, drop) statements for a OneToOne/OneToMany column with its key, index and uniqueness."""
    t, target = names.table_name(manifest.metadata.namespace, rel.source), targets[i]
    add = [render("ALTER TABLE {} ADD COLUMN {} {}{}", t, rel.sourceField, sql.SQL(target.sql_type),
                  sql.SQL(" NOT NULL" if rel.required else "")),
           ddl.add_foreign_key(t, rel.sourceField, target, rel.onDelete)[0],
           render("CREATE INDEX {} ON {} ({})", names.constraint_name("ix", t, [rel.sourceField]), t, rel.sourceField)]
    if rel.type == "OneToOne":
        add.append(render("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})",
                          t, names.constraint_name("uq", t, [rel.sourceField]), rel.sourceField))
    return add, [render("ALTER TABLE {} DROP COLUMN {}", t, rel.sourceField)]


def _join(ctx: Context, manifest: Manifest, i: int, rel, targets) -> tuple[list[str], list[str], str]:
    ns = manifest.metadata.namespace
    create, drop = ddl.join_table(ns, rel, names.table_name(ns, rel.source), targets[i])
    join = names.join_table_name(ns, rel.source, rel.sourceField)
    index = render("CREATE INDEX {} ON {} (target_id)", names.constraint_name("ix", join, ["target_id"]), join)
    return [create, index], [drop], join


def _column_backup(ctx: Context, manifest: Manifest, t: str, f, backup: str) -> tuple[str, str]:
    """Return (copy the column into `backup`, copy it back); enums travel as text so no backup holds their type."""
    kind = ddl.column_type(manifest, f)
    copy = render("CREATE TABLE {} AS SELECT id, {}::text AS {} FROM {}", backup, f.name, f.name, t)
    restore = render("UPDATE {} AS t SET {} = b.{}::{} FROM {} AS b WHERE b.id = t.id", t, f.name, f.name, kind, backup)
    return copy, restore


def drop_relationships(ctx: Context) -> None:
    """Drop relationships the new version no longer has (copying their links), or re-key changed ones."""
    new_rels = _rels(ctx.new)
    for key, (i, rel) in _rels(ctx.old).items():
        found = new_rels.get(key)
        t = names.table_name(ctx.old.metadata.namespace, rel.source)
        if found is not None and _same_link(ctx, i, rel, *found):
            _rekey(ctx, i, rel, *found)
            continue
        backup = names.backup_name(ctx.migration_id, t, rel.sourceField)
        if rel.type == "ManyToMany":
            create, drop, join = _join(ctx, ctx.old, i, rel, ctx.old_targets)
            ctx.add(f"Drop the {rel.source}.{rel.sourceField} links ({join})",
                    [render("CREATE TABLE {} AS TABLE {}", backup, join), *drop],
                    [*create, render("INSERT INTO {} SELECT * FROM {}", join, backup), render("DROP TABLE {}", backup)],
                    [join], f"drops the join table {join}; its rows are copied to {backup} first")
            continue
        add, drop = _fk_column(ctx, ctx.old, i, rel, ctx.old_targets)
        ctx.add(f"Drop relationship column {rel.source}.{rel.sourceField}",
                [render("CREATE TABLE {} AS SELECT id, {} FROM {}", backup, rel.sourceField, t), *drop],
                [add[0].replace(" NOT NULL", ""),
                 render("UPDATE {} AS t SET {} = b.{} FROM {} AS b WHERE b.id = t.id", t, rel.sourceField,
                        rel.sourceField, backup),
                 *([render("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", t, rel.sourceField)] if rel.required else []),
                 *add[1:], render("DROP TABLE {}", backup)],
                [t], f"drops the column {t}.{rel.sourceField}; its values are copied to {backup} first")


def _rekey(ctx: Context, old_i: int, old_rel, new_i: int, new_rel) -> None:
    if old_rel.type == "ManyToMany":
        return
    t = names.table_name(ctx.new.metadata.namespace, new_rel.source)
    forward, backward = [], []
    if old_rel.onDelete != new_rel.onDelete:
        old_add, drop = ddl.add_foreign_key(t, old_rel.sourceField, ctx.old_targets[old_i], old_rel.onDelete)
        new_add, _ = ddl.add_foreign_key(t, new_rel.sourceField, ctx.new_targets[new_i], new_rel.onDelete)
        forward += [drop, new_add]
        backward += [drop, old_add]
    if old_rel.required != new_rel.required:
        verb = sql.SQL("SET NOT NULL" if new_rel.required else "DROP NOT NULL")
        undo = sql.SQL("DROP NOT NULL" if new_rel.required else "SET NOT NULL")
        forward.append(render("ALTER TABLE {} ALTER COLUMN {} {}", t, new_rel.sourceField, verb))
        backward.insert(0, render("ALTER TABLE {} ALTER COLUMN {} {}", t, new_rel.sourceField, undo))
    if forward:
        ctx.add(f"Change relationship {new_rel.source}.{new_rel.sourceField}", forward, backward, [t])


def _index_defs(manifest: Manifest | None, table: str) -> dict[str, tuple[str, str]]:
    """Return {name: (create, drop)} of a table's indexes and unique constraints."""
    if manifest is None or manifest.table(table) is None:
        return {}
    t, spec = names.table_name(manifest.metadata.namespace, table), manifest.table(table)
    defs = {ddl.index_name(t, i): ddl.create_index(t, i) for i in spec.indexes}
    defs.update({ddl.index_name(t, u, True): ddl.add_unique(t, u) for u in spec.uniqueConstraints})
    return defs


def drop_indexes(ctx: Context) -> None:
    """Drop indexes and unique constraints that changed or went away on tables that stay."""
    if ctx.old is None:
        return
    for table in ctx.old.tables:
        if ctx.new.table(table.name) is None:
            continue
        new_defs = _index_defs(ctx.new, table.name)
        for name, (create, drop) in _index_defs(ctx.old, table.name).items():
            if new_defs.get(name) != (create, drop):
                ctx.add(f"Drop index {name}", [drop], [create], [ctx.physical(table.name)])


def create_enums(ctx: Context) -> None:
    """Create new enum types and add new values to existing ones."""
    for enum in ctx.new.enums:
        old = ctx.old.enum(enum.name) if ctx.old else None
        physical = names.enum_name(ctx.new.metadata.namespace, enum.name)
        if old is None:
            ctx.add(f"Create enum {physical}", [ddl.create_enum(ctx.new, enum.name, enum.values)],
                    [render("DROP TYPE {}", physical)])
            continue
        added = [v for v in enum.values if v not in old.values]
        if not added:
            continue
        statements = []
        for value in added:
            position = enum.values.index(value)
            after = next((v for v in reversed(enum.values[:position]) if v in old.values or v in added), None)
            where = sql.SQL(" AFTER {}").format(sql.Literal(after)) if after else sql.SQL(
                " BEFORE {}").format(sql.Literal(old.values[0]))
            statements.append(render("ALTER TYPE {} ADD VALUE {}{}", physical, sql.Literal(value), where))
        ctx.add(f"Add {', '.join(added)} to enum {physical}", statements,
                enum_recreate(ctx.old, enum.name, list(old.values)))


def create_tables(ctx: Context) -> None:
    """Create the tables that are new in this version."""
    for table in ctx.new.tables:
        if ctx.old is None or ctx.old.table(table.name) is None:
            t = ctx.physical(table.name)
            ctx.add(f"Create table {t}", [ddl.create_table(ctx.new, table), order_index(t)],
                    [render("DROP TABLE {}", t)], [t])


def order_index(physical: str) -> str:
    """Return CREATE INDEX on (created_at, id): the REST's default order, read from it page by page."""
    return render("CREATE INDEX {} ON {} (created_at, id)", names.short(f"ord_{physical}"), physical)


def alter_tables(ctx: Context) -> None:
    """Add new fields and change changed ones on tables that stay."""
    if ctx.old is None:
        return
    for ti, table in enumerate(ctx.new.tables):
        old_table = ctx.old.table(table.name)
        if old_table is None:
            continue
        t = ctx.physical(table.name)
        for fi, f in enumerate(table.fields):
            old = old_table.field(f.name)
            if old is None:
                if f.required and f.default is None:
                    ctx.refuse(f"tables[{ti}].fields[{fi}].default", "required",
                               f"tables[{ti}].fields[{fi}]: a required field added to an existing table needs a "
                               "default for the rows already there.")
                add = render("ALTER TABLE {} ADD COLUMN {}", t, ddl.column_def(ctx.new, f))
                ctx.add(f"Add column {t}.{f.name}", [add],
                        [render("ALTER TABLE {} DROP COLUMN {}", t, f.name)], [t])
            else:
                _change_field(ctx, t, old, f)


def _change_field(ctx: Context, t: str, old, new) -> None:
    old_sql, new_sql = ddl.type_sql(ctx.old, old), ddl.type_sql(ctx.new, new)
    forward, backward, destructive = [], [], ""
    col = new.name
    if old_sql != new_sql:
        widening = (old.type, new.type) in WIDENING or new.type in ("String", "Json") and old.type != "Json"
        drop_default = [render("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", t, col)]
        forward += drop_default + [render("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}", t, col, sql.SQL(new_sql),
                                          ddl.cast(col, old_sql, new_sql))]
        backward += drop_default + [render("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}", t, col, sql.SQL(old_sql),
                                           ddl.cast(col, new_sql, old_sql))]
        if not widening:
            backup = names.backup_name(ctx.migration_id, t, col)
            destructive = (f"narrows {t}.{col} from {old.type} to {new.type}; values that do not convert make the "
                           f"migration fail, and every value is copied to {backup} first")
            copy, restore = _column_backup(ctx, ctx.old, t, old, backup)
            forward.insert(0, copy)
            backward += [restore, render("DROP TABLE {}", backup)]
        if new.default is not None:
            forward.append(render("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", t, col,
                                  ddl.literal(ctx.new, new, new.default)))
        if old.default is not None:
            backward.append(render("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", t, col,
                                   ddl.literal(ctx.old, old, old.default)))
    elif old.default != new.default:
        forward.append(_set_default(ctx.new, t, new))
        backward.append(_set_default(ctx.old, t, old))
    if old.required != new.required:
        if new.required and new.default is not None:
            forward.append(render("UPDATE {} SET {} = {} WHERE {} IS NULL", t, col,
                                  ddl.literal(ctx.new, new, new.default), col))
        forward.append(render("ALTER TABLE {} ALTER COLUMN {} {}", t, col,
                              sql.SQL("SET NOT NULL" if new.required else "DROP NOT NULL")))
        backward.insert(0, render("ALTER TABLE {} ALTER COLUMN {} {}", t, col,
                                  sql.SQL("DROP NOT NULL" if new.required else "SET NOT NULL")))
    if forward:
        ctx.add(f"Change column {t}.{col}", forward, backward, [t], destructive)


def _set_default(manifest: Manifest, t: str, f) -> str:
    if f.default is None:
        return render("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", t, f.name)
    return render("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", t, f.name, ddl.literal(manifest, f, f.default))


def remove_enum_values(ctx: Context) -> None:
    """Rebuild enum types that lost values, after copying and clearing the rows that used them."""
    if ctx.old is None:
        return
    for enum in ctx.new.enums:
        old = ctx.old.enum(enum.name)
        removed = [v for v in old.values if v not in enum.values] if old else []
        if not removed:
            continue
        forward, backward, tables = [], [], []
        for table in ctx.new.tables:
            t = ctx.physical(table.name)
            for f in table.fields:
                old_table = ctx.old.table(table.name)
                if f.type != enum.name or old_table is None or old_table.field(f.name) is None:
                    continue
                backup = names.backup_name(ctx.migration_id, t, f"{f.name}:{enum.name}")
                fill = ddl.literal(ctx.new, f, f.default) if f.default is not None else sql.SQL("NULL")
                forward += [render("CREATE TABLE {} AS SELECT id, {}::text AS value FROM {} WHERE {}::text IN {}",
                                   backup, f.name, t, f.name, in_list(removed)),
                            render("UPDATE {} SET {} = {} WHERE {}::text IN {}", t, f.name, fill, f.name,
                                   in_list(removed))]
                backward += [render("UPDATE {} AS t SET {} = b.value::{} FROM {} AS b WHERE b.id = t.id", t, f.name,
                                    names.enum_name(ctx.new.metadata.namespace, enum.name), backup),
                             render("DROP TABLE {}", backup)]
                tables.append(t)
        physical = names.enum_name(ctx.new.metadata.namespace, enum.name)
        ctx.add(f"Remove {', '.join(removed)} from enum {physical}",
                forward + enum_recreate(ctx.new, enum.name, list(enum.values)),
                enum_recreate(ctx.new, enum.name, list(old.values)) + backward, tables,
                f"removes {', '.join(removed)} from {physical}; rows using them are copied to a backup table and "
                "set to the field's default (or empty)")


def drop_columns(ctx: Context) -> None:
    """Drop fields the new version no longer has, copying their values first."""
    if ctx.old is None:
        return
    for table in ctx.old.tables:
        new_table = ctx.new.table(table.name)
        if new_table is None:
            continue
        t = ctx.physical(table.name)
        for f in table.fields:
            if new_table.field(f.name) is not None:
                continue
            backup = names.backup_name(ctx.migration_id, t, f.name)
            nullable = f.model_copy(update={"required": False})
            ctx.add(f"Drop column {t}.{f.name}",
                    [_column_backup(ctx, ctx.old, t, f, backup)[0], render("ALTER TABLE {} DROP COLUMN {}", t, f.name)],
                    [render("ALTER TABLE {} ADD COLUMN {}", t, ddl.column_def(ctx.old, nullable)),
                     _column_backup(ctx, ctx.old, t, f, backup)[1],
                     *([render("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL", t, f.name)] if f.required else []),
                     render("DROP TABLE {}", backup)],
                    [t], f"drops the column {t}.{f.name}; its values are copied to {backup} first")


def drop_tables(ctx: Context) -> None:
    """Drop tables the new version no longer has, copying their rows first."""
    if ctx.old is None:
        return
    for table in ctx.old.tables:
        if ctx.new.table(table.name) is not None:
            continue
        t = names.table_name(ctx.old.metadata.namespace, table.name)
        backup = names.backup_name(ctx.migration_id, t, "*")
        recreate = [ddl.create_table(ctx.old, table), order_index(t),
                    *(c for c, _ in _index_defs(ctx.old, table.name).values())]
        ctx.add(f"Drop table {t}",
                [render("CREATE TABLE {} AS SELECT to_jsonb(t) AS row FROM {} AS t", backup, t),
                 render("DROP TABLE {}", t)],
                [*recreate, _restore_rows(t, backup), render("DROP TABLE {}", backup)],
                [t], f"drops the table {t}; its rows are copied to {backup} first")


def _restore_rows(t: str, backup: str) -> str:
    """Return the INSERT that puts whole rows kept as JSON (`to_jsonb`) back into their table."""
    return render("INSERT INTO {} SELECT (jsonb_populate_record(NULL::{}, b.row)).* FROM {} AS b", t, t, backup)


def drop_enums(ctx: Context) -> None:
    """Drop enum types the new version no longer has."""
    if ctx.old is None:
        return
    for enum in ctx.old.enums:
        if ctx.new.enum(enum.name) is None:
            physical = names.enum_name(ctx.old.metadata.namespace, enum.name)
            ctx.add(f"Drop enum {physical}", [render("DROP TYPE {}", physical)],
                    [ddl.create_enum(ctx.old, enum.name, enum.values)])


def add_indexes(ctx: Context) -> None:
    """Create new or changed indexes and unique constraints; duplicates in existing rows are destructive."""
    for table in ctx.new.tables:
        t = ctx.physical(table.name)
        old_defs = _index_defs(ctx.old, table.name)
        uniques = {ddl.index_name(t, u, True): tuple(u.fields) for u in table.uniqueConstraints}
        uniques.update({ddl.index_name(t, i): tuple(i.fields) for i in table.indexes if i.unique})
        for name, (create, drop) in _index_defs(ctx.new, table.name).items():
            if old_defs.get(name) == (create, drop):
                continue
            fields = uniques.get(name)
            count = ctx.duplicates.get((t, fields), 0) if fields else 0
            if count:
                _dedupe(ctx, t, name, fields, count)
            ctx.add(f"Create {'unique constraint' if fields else 'index'} {name}", [create], [drop], [t])


def _dedupe(ctx: Context, t: str, name: str, fields: tuple[str, ...], count: int) -> None:
    backup = names.backup_name(ctx.migration_id, t, name)
    cols = sql.SQL(", ").join(sql.Identifier(f) for f in fields)
    present = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(f)) for f in fields)
    ctx.add(f"Move {count} duplicate rows out of {t} for {name}",
            [render("CREATE TABLE {} AS SELECT to_jsonb(t) AS row FROM {} AS t WHERE id IN (SELECT id FROM (SELECT id, "
                    "row_number() OVER (PARTITION BY {} ORDER BY created_at, id) AS n FROM {} WHERE {}) AS d "
                    "WHERE d.n > 1)", backup, t, cols, t, present),
             render("DELETE FROM {} WHERE id IN (SELECT (row->>'id')::uuid FROM {})", t, backup)],
            [_restore_rows(t, backup), render("DROP TABLE {}", backup)],
            [t], f"{count} rows of {t} repeat values of ({', '.join(fields)}); all but the first of each are "
                 f"moved to {backup} before the unique constraint {name} is added")


def add_relationships(ctx: Context) -> None:
    """Add relationship columns with their foreign keys, and join tables for ManyToMany."""
    old_rels = _rels(ctx.old)
    for i, rel in enumerate(ctx.new.relationships):
        found = old_rels.get((rel.source, rel.sourceField))
        if found is not None and _same_link(ctx, found[0], found[1], i, rel):
            continue
        if rel.type == "ManyToMany":
            create, drop, join = _join(ctx, ctx.new, i, rel, ctx.new_targets)
            ctx.add(f"Create join table {join}", create, drop, [join])
            continue
        if rel.required and ctx.old is not None and ctx.old.table(rel.source) is not None:
            ctx.refuse(f"relationships[{i}].required", "required",
                       f"relationships[{i}]: a required relationship cannot be added to the existing table "
                       f"{rel.source}; add it as optional first.")
        add, drop = _fk_column(ctx, ctx.new, i, rel, ctx.new_targets)
        t = ctx.physical(rel.source)
        ctx.add(f"Add relationship {rel.source}.{rel.sourceField} → {ctx.new_targets[i].table}", add, drop,
                [t, ctx.new_targets[i].table])
