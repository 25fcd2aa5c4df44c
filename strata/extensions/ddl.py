"""SQL statement builders for extension objects: every identifier quoted, every literal rendered by psycopg.

Statements carry no schema name: they run with the tenant's search_path, as the tenant's role,
so they can only ever create or change objects in that tenant's schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from strata.db import db
from strata.extensions import names, values
from strata.extensions.manifest import ON_DELETE, ExtensionField, ExtensionTable, Manifest

SQL_TYPES = {"String": "text", "Int": "bigint", "Float": "double precision", "Boolean": "boolean",
             "DateTime": "timestamp with time zone", "Decimal": "numeric", "Json": "jsonb"}


@dataclass(frozen=True)
class Target:
    """Where a relationship points: a physical table, its column and that column's SQL type."""

    table: str
    column: str
    sql_type: str


def run(statement: str) -> None:
    """Execute one generated statement in the session's transaction, exactly as composed.

    No parameters: the driver then reads no `%` as a placeholder, so a literal such as '100%' or '%s' in a
    default, enum label or comment reaches PostgreSQL as the generator wrote it.
    """
    db.session.connection().exec_driver_sql(statement, execution_options={"no_parameters": True})


def ident(*parts: str) -> str:
    """Return the quoted identifier."""
    return sql.Identifier(*parts).as_string(None)


def render(template: str, *args: Any, **kwargs: Any) -> str:
    """Return `template` with identifiers / composables formatted in (strings become identifiers)."""
    def wrap(value: Any) -> sql.Composable:
        if isinstance(value, sql.Composable):
            return value
        return sql.Identifier(value)

    composed = sql.SQL(template).format(*[wrap(a) for a in args], **{k: wrap(v) for k, v in kwargs.items()})
    return composed.as_string(None)


def column_type(manifest: Manifest, field: ExtensionField) -> sql.Composable:
    """Return the SQL type of a manifest field (enums by their physical name)."""
    if manifest.enum(field.type) is not None:
        return sql.Identifier(names.enum_name(manifest.metadata.namespace, field.type))
    return sql.SQL(SQL_TYPES[field.type])


def literal(manifest: Manifest, field: ExtensionField, value: Any) -> sql.Composable:
    """Return `value` as a SQL literal of the field's type (defaults are part of DDL, so never parameters)."""
    if field.type == "Json":
        return sql.SQL("{}::jsonb").format(sql.Literal(json.dumps(value)))
    if manifest.enum(field.type) is not None:
        return sql.SQL("{}::{}").format(sql.Literal(value), column_type(manifest, field))
    coerced = values.coerce(field.type, value)
    if field.type == "DateTime":
        return sql.SQL("{}::timestamptz").format(sql.Literal(coerced.isoformat()))
    return sql.Literal(coerced)


def column_def(manifest: Manifest, field: ExtensionField) -> sql.Composable:
    """Return `"name" type [NOT NULL] [DEFAULT …]` for a field."""
    parts = [sql.Identifier(field.name), column_type(manifest, field)]
    if field.required:
        parts.append(sql.SQL("NOT NULL"))
    if field.default is not None:
        parts += [sql.SQL("DEFAULT"), literal(manifest, field, field.default)]
    return sql.SQL(" ").join(parts)


def create_table(manifest: Manifest, table: ExtensionTable) -> str:
    """Return CREATE TABLE with a uuid id, timestamps and the table's fields (relationship columns come later)."""
    physical = names.table_name(manifest.metadata.namespace, table.name)
    columns = [sql.SQL("id uuid NOT NULL DEFAULT gen_random_uuid()"),
               sql.SQL("created_at timestamp with time zone NOT NULL DEFAULT now()"),
               sql.SQL("updated_at timestamp with time zone NOT NULL DEFAULT now()")]
    columns += [column_def(manifest, f) for f in table.fields]
    columns.append(sql.SQL("CONSTRAINT {} PRIMARY KEY (id)").format(sql.Identifier(names.short(f"pk_{physical}"))))
    return render("CREATE TABLE {} ({})", physical, sql.SQL(", ").join(columns))


def create_enum(manifest: Manifest, name: str, labels: list[str]) -> str:
    """Return CREATE TYPE … AS ENUM."""
    physical = names.enum_name(manifest.metadata.namespace, name)
    return render("CREATE TYPE {} AS ENUM ({})", physical, sql.SQL(", ").join(sql.Literal(v) for v in labels))


def index_name(physical: str, index, unique_constraint: bool = False) -> str:
    """Return the physical name of an index or unique constraint (explicit names are prefixed by the table)."""
    prefix = "uq" if unique_constraint else "ix"
    if index.name:
        return names.short(f"{prefix}_{physical}_{index.name}")
    return names.constraint_name(prefix, physical, index.fields)


def create_index(physical: str, index) -> tuple[str, str]:
    """Return (CREATE INDEX, DROP INDEX) for a manifest index."""
    name = index_name(physical, index)
    unique = sql.SQL("UNIQUE ") if index.unique else sql.SQL("")
    cols = sql.SQL(", ").join(sql.Identifier(f) for f in index.fields)
    return (render("CREATE {}INDEX {} ON {} ({})", unique, name, physical, cols), render("DROP INDEX {}", name))


def add_unique(physical: str, constraint) -> tuple[str, str]:
    """Return (ADD CONSTRAINT … UNIQUE, DROP CONSTRAINT) for a unique constraint."""
    name = index_name(physical, constraint, unique_constraint=True)
    cols = sql.SQL(", ").join(sql.Identifier(f) for f in constraint.fields)
    return (render("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})", physical, name, cols),
            render("ALTER TABLE {} DROP CONSTRAINT {}", physical, name))


def cast(column: str, old_sql: str, new_sql: str) -> sql.Composable:
    """Return the USING expression that converts `column` from one SQL type to another."""
    col = sql.Identifier(column)
    if new_sql == "jsonb":
        return sql.SQL("to_jsonb({})").format(col)
    if old_sql == "jsonb":
        return sql.SQL("({} #>> '{{}}')::{}").format(col, sql.SQL(new_sql))
    return sql.SQL("{}::text::{}").format(col, sql.SQL(new_sql))


def type_sql(manifest: Manifest, field: ExtensionField) -> str:
    """Return the field's SQL type as text (for casts)."""
    return column_type(manifest, field).as_string(None)


def fk_constraint_name(physical: str, column: str) -> str:
    """Return the name of a relationship's foreign key constraint."""
    return names.constraint_name("fk", physical, [column])


def add_foreign_key(physical: str, column: str, target: Target, on_delete: str) -> tuple[str, str]:
    """Return (ADD CONSTRAINT … FOREIGN KEY, DROP CONSTRAINT) for a relationship column."""
    name = fk_constraint_name(physical, column)
    return (render("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                   physical, name, column, target.table, target.column, sql.SQL(ON_DELETE[on_delete])),
            render("ALTER TABLE {} DROP CONSTRAINT {}", physical, name))


def join_table(namespace: str, rel, source_physical: str, target: Target) -> tuple[str, str]:
    """Return (CREATE TABLE, DROP TABLE) for a ManyToMany join table with cascading keys."""
    physical = names.join_table_name(namespace, rel.source, rel.sourceField)
    left, right = "source_id", "target_id"
    statement = render(
        "CREATE TABLE {} ({} uuid NOT NULL REFERENCES {} (id) ON DELETE CASCADE, "
        "{} {} NOT NULL REFERENCES {} ({}) ON DELETE CASCADE, "
        "created_at timestamp with time zone NOT NULL DEFAULT now(), CONSTRAINT {} PRIMARY KEY ({}, {}))",
        physical, left, source_physical, right, sql.SQL(target.sql_type), target.table, target.column,
        names.short(f"pk_{physical}"), left, right)
    return statement, render("DROP TABLE {}", physical)
