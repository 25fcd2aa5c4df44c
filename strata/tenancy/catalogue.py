"""A tenant schema's catalogue as plain data, with its own schema and role names neutralised.

Two tenants built the same way have equal snapshots: provisioning from the recorded
template is checked against a migrated schema with it, and `bench/tenancy.py` counts
catalogue rows with it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Each query takes :s (the schema) and returns comparable rows; names of the schema and
# role are replaced in every value afterwards.
QUERIES: dict[str, str] = {
    "schema": """
        SELECT pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace WHERE nspname = :s""",
    "relations": """
        SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl::text, c.reloptions::text,
               c.relpersistence, c.relrowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s""",
    "columns": """
        SELECT c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attacl::text, co.collname
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
        WHERE n.nspname = :s AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
        LEFT JOIN pg_class c ON c.oid = k.conrelid WHERE n.nspname = :s""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :s AND NOT t.tgisinternal""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_userbyid(p.proowner), p.proacl::text,
               CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :s AND c.relkind IN ('v', 'm')""",
    "sequences": """
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
               s.seqcache, s.seqcycle
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :s""",
    "types": """
        SELECT t.typname, t.typtype, pg_get_userbyid(t.typowner), t.typacl::text,
               (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)::text FROM pg_enum e WHERE e.enumtypid = t.oid)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = :s""",
    "policies": """
        SELECT c.relname, p.polname, p.polcmd, pg_get_expr(p.polqual, p.polrelid),
               pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = :s""",
    "default_privileges": """
        SELECT pg_get_userbyid(d.defaclrole), d.defaclobjtype, d.defaclacl::text
        FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = :s""",
    "comments": """
        SELECT c.relname, d.objsubid, d.description FROM pg_description d
        JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s""",
}


def snapshot(connection: Connection, schema: str, role: str) -> dict[str, list[tuple]]:
    """Return the catalogue of `schema` (plus its row counts and versions), sorted, names neutralised."""

    def neutral(value):
        if isinstance(value, str):
            return value.replace(role, "<role>").replace(schema, "<schema>")
        return value

    result: dict[str, list[tuple]] = {}
    for name, query in QUERIES.items():
        rows = connection.execute(text(query), {"s": schema}).all()
        result[name] = sorted((tuple(neutral(v) for v in row) for row in rows), key=repr)
    tables = connection.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"), {"s": schema}).scalars().all()
    counts = []
    for table in tables:
        quoted = connection.dialect.identifier_preparer.quote
        count = connection.exec_driver_sql(f"SELECT count(*) FROM {quoted(schema)}.{quoted(table)}").scalar()  # noqa: S608
        counts.append((table, count))
    result["row_counts"] = counts
    if "alembic_version" in tables:
        result["alembic_version"] = sorted(connection.exec_driver_sql(
            f"SELECT version_num FROM {connection.dialect.identifier_preparer.quote(schema)}.alembic_version"  # noqa: S608
        ).scalars())
    return result


def size(connection: Connection, schema: str) -> dict[str, int]:
    """Return how many relations, columns, functions and triggers `schema` adds to the catalogue."""
    snap = {name: connection.execute(text(QUERIES[name]), {"s": schema}).all()
            for name in ("relations", "columns", "functions", "triggers", "constraints")}
    return {name: len(rows) for name, rows in snap.items()}
