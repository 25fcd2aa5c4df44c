"""What the tenant's schema holds right now, read from pg_catalog (current schema only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from strata.db import db

_RELATIONS = text("""
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i')""")
_TYPES = text("""
    SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0""")
_COLUMN = text("""
    SELECT format_type(a.atttypid, a.atttypmod) AS sql_type,
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u')
                   AND k.conkey = ARRAY[a.attnum]) AS unique_key
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = :table AND a.attname = :column""")
_ATTRIBUTES = text("""
    SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relname = :table AND a.attnum > 0""")
_SNAPSHOT = text("""
    SELECT 'rel:' || c.relname || ':' || c.relkind::text
           || coalesce(':' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                                 || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                                 || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                                                 ', ' ORDER BY a.attname)
                             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()
    UNION ALL
    SELECT 'con:' || k.conname || ':' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = current_schema()
    UNION ALL
    SELECT 'type:' || t.typname || coalesce(':' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                                   FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = current_schema() AND t.typtype = 'e'
    ORDER BY 1""")


def relations() -> set[str]:
    """Return the names of every table, view, index and sequence in the tenant's schema."""
    return set(db.session.scalars(_RELATIONS))


def types() -> set[str]:
    """Return the names of the enum, domain and composite types in the tenant's schema."""
    return set(db.session.scalars(_TYPES))


def column(table: str, name: str) -> dict[str, Any] | None:
    """Return {sql_type, unique_key} of a column of a table in the tenant's schema, or None."""
    row = db.session.execute(_COLUMN, {"table": table, "column": name}).mappings().first()
    return dict(row) if row else None


def attribute_count(table: str) -> int:
    """Return how many column slots a table has used, dropped columns included (PostgreSQL's 1,600 limit)."""
    return db.session.scalar(_ATTRIBUTES, {"table": table}) or 0


def snapshot() -> list[str]:
    """Return a sorted description of the tenant schema's relations, columns, constraints and enums.

    Columns are listed by name, not position: PostgreSQL cannot put a re-added column back where it was.
    """
    return list(db.session.scalars(_SNAPSHOT))
