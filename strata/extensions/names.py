"""Physical names of extension objects, and the identifier rules every name must meet.

Tables and enums become `plugin_<namespace>_<name>`; a ManyToMany join table
`plugin_<namespace>_<source>_<sourceField>`. Generated constraint and index names that
would pass PostgreSQL's 63-byte limit are shortened with a hash so they stay unique.
"""

from __future__ import annotations

import hashlib
import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_IDENTIFIER_BYTES = 63
MAX_COLUMNS = 1600
SYSTEM_COLUMNS = ("id", "created_at", "updated_at")
PG_SYSTEM_COLUMNS = ("oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid")
CORE_TABLES = ("companies", "partners", "products")

# PostgreSQL's reserved key words (`SELECT word FROM pg_get_keywords() WHERE catcode = 'R'`, PostgreSQL 16).
RESERVED_WORDS = frozenset("""
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral
leading limit localtime localtimestamp not null offset on only or order placing primary references returning
select session_user some symmetric system_user table then to trailing true union unique user using variadic when
where window with authorization binary collation concurrently cross current_schema freeze full ilike inner is
isnull join left like natural notnull outer overlaps right similar tablesample verbose
""".split())


def identifier_problem(name: str) -> tuple[str, str] | None:
    """Return (rule, message) if `name` may not be an identifier of an extension, else None."""
    if not IDENTIFIER.match(name):
        return "pattern", "must be lowercase letters, digits and underscores, starting with a letter"
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        return "max_bytes", f"must be at most {MAX_IDENTIFIER_BYTES} bytes"
    if name in RESERVED_WORDS:
        return "reserved", f"{name!r} is a reserved word of PostgreSQL"
    if name.startswith("pg_"):
        return "reserved", "names starting with pg_ are reserved by PostgreSQL"
    return None


def table_name(namespace: str, table: str) -> str:
    """Return the physical name of a manifest table."""
    return f"plugin_{namespace}_{table}"


def enum_name(namespace: str, enum: str) -> str:
    """Return the physical name of a manifest enum type."""
    return f"plugin_{namespace}_{enum}"


def join_table_name(namespace: str, source: str, source_field: str) -> str:
    """Return the physical name of a ManyToMany relationship's join table."""
    return f"plugin_{namespace}_{source}_{source_field}"


def short(name: str) -> str:
    """Return `name`, shortened with a hash suffix if it is over 63 bytes."""
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_IDENTIFIER_BYTES - 11]}_{digest}"


def constraint_name(prefix: str, table: str, columns: list[str] | tuple[str, ...]) -> str:
    """Return a stable constraint or index name such as `uq_<table>_<a>_<b>`."""
    return short(f"{prefix}_{table}_{'_'.join(columns)}")


def backup_name(migration_id: str, table: str, what: str) -> str:
    """Return the name of the table a destructive step copies its data into first."""
    digest = hashlib.sha256(f"{migration_id}:{table}:{what}".encode()).hexdigest()[:12]
    return f"ext_backup_{digest}"
