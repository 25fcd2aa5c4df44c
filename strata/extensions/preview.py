"""What a migration will do before it runs: its statements, the tables it touches, their rows and locks."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from strata.db import db
from strata.extensions import catalog
from strata.extensions.ddl import ident
from strata.extensions.models import ExtensionMigration

# The strongest table lock each kind of statement takes (PostgreSQL docs, "Explicit Locking").
LOCKS = (
    (re.compile(r"^CREATE TABLE \S+ AS "), "ACCESS SHARE (read)"),
    (re.compile(r"^CREATE (UNIQUE )?INDEX "), "SHARE (blocks writes)"),
    (re.compile(r"^(ALTER TABLE|DROP TABLE|DROP INDEX)"), "ACCESS EXCLUSIVE (blocks reads and writes)"),
    (re.compile(r"^(UPDATE|DELETE|INSERT)"), "ROW EXCLUSIVE (rows being changed)"),
)


def lock_of(statement: str) -> str | None:
    """Return the table lock a statement takes, or None (new objects and types lock no existing table)."""
    if statement.startswith("CREATE TABLE") and " AS " not in statement.split("(")[0]:
        return None
    for pattern, lock in LOCKS:
        if pattern.match(statement):
            return lock
    return None


def row_counts(tables: list[str]) -> dict[str, int | None]:
    """Return the number of rows of each existing table (None for tables the migration creates)."""
    existing = catalog.relations()
    counts = {}
    for table in tables:
        if table in existing:
            counts[table] = db.session.scalar(text(f"SELECT count(*) FROM {ident(table)}"))  # noqa: S608
        else:
            counts[table] = None
    return counts


def impact(migration: ExtensionMigration) -> dict[str, Any]:
    """Return the migration's steps with their SQL, destructive notes, touched tables, row counts and locks."""
    steps = migration.steps or []
    tables = sorted({t for step in steps for t in step.get("tables", [])})
    counts = row_counts(tables)
    described = []
    for step in steps:
        locks = sorted({lock for s in step["sql"] if (lock := lock_of(s))})
        described.append({**step, "locks": locks,
                          "impact": [{"table": t, "rows": counts.get(t)} for t in step.get("tables", [])]})
    rows = sum(c for t, c in counts.items() if c)
    return {"steps": described, "tables": [{"table": t, "rows": counts[t]} for t in tables], "rows_affected": rows,
            "destructive": [s["destructive"] for s in steps if s.get("destructive")],
            "statements": sum(len(s["sql"]) for s in steps)}
