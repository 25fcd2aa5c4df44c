"""Query insight for extension tables: the slowest REST queries and the indexes they lack.

Every list request through the auto REST is recorded by its shape (the fields it filters on and the
fields it orders by, never the values) with its count, total and slowest time, in Redis per tenant
and table, kept 30 days. When the server has `pg_stat_statements`, its figures for the table's
statements are shown beside them. A shape whose filter or order fields no index leads with gets a
suggested index; accepting it upgrades the extension by a patch version whose manifest adds that
index, so it is created by a normal, checksummed, reversible migration.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import text

from strata.core import queues
from strata.db import db
from strata.errors import ValidationError
from strata.extensions import executor, names, registry
from strata.extensions.manifest import Manifest
from strata.extensions.models import ExtensionMigration

KEEP_SECONDS = 30 * 24 * 3600
MAX_SHAPES = 200  # shapes kept per table: the slowest survive
SYSTEM = {"id", "created_at", "updated_at"}


@dataclass(frozen=True)
class Shape:
    """A query's shape: the fields it filters on and the fields it orders by."""

    filters: tuple[str, ...]
    order: tuple[str, ...]

    @property
    def key(self) -> str:
        """Return the shape as stored."""
        return json.dumps([list(self.filters), list(self.order)])

    @classmethod
    def from_key(cls, key: str | bytes) -> Shape:
        """Return the shape stored under `key`."""
        filters, order = json.loads(key)
        return cls(tuple(filters), tuple(order))

    def describe(self) -> str:
        """Return the shape in words."""
        where = f"filtered on {', '.join(self.filters)}" if self.filters else "unfiltered"
        return f"{where}, ordered by {', '.join(self.order) if self.order else 'created_at, id (default)'}"


def _key(tenant_id: int, plugin_id: str, table: str) -> str:
    return f"strata:xq:{tenant_id}:{plugin_id}:{table}"


def record(tenant_id: int, plugin_id: str, table: str, filters: list[str], order: list[str], ms: float) -> None:
    """Count one list request of `shape` taking `ms` (best effort: Redis trouble never fails a request)."""
    shape = Shape(tuple(dict.fromkeys(filters)), tuple(order)).key
    key = _key(tenant_id, plugin_id, table)
    try:
        pipe = queues.connection.pipeline(transaction=False)
        pipe.hincrby(f"{key}:n", shape, 1)
        pipe.hincrbyfloat(f"{key}:ms", shape, round(ms, 3))
        pipe.zadd(f"{key}:max", {shape: round(ms, 3)}, gt=True)
        pipe.zremrangebyrank(f"{key}:max", 0, -MAX_SHAPES - 1)
        for suffix in (":n", ":ms", ":max"):
            pipe.expire(key + suffix, KEEP_SECONDS)
        pipe.execute()
    except redis.RedisError:
        pass


def slowest(tenant_id: int, plugin_id: str, table: str, limit: int = 10) -> list[dict[str, Any]]:
    """Return the slowest recorded shapes (by their slowest request) with calls, mean and max milliseconds."""
    key = _key(tenant_id, plugin_id, table)
    conn = queues.connection
    top = conn.zrevrange(f"{key}:max", 0, limit - 1, withscores=True)
    if not top:
        return []
    shapes = [s for s, _ in top]
    counts, totals = conn.hmget(f"{key}:n", shapes), conn.hmget(f"{key}:ms", shapes)
    found = []
    for (shape, worst), n, total in zip(top, counts, totals, strict=True):
        calls = int(n or 0)
        found.append({"shape": Shape.from_key(shape), "calls": calls, "max_ms": worst,
                      "mean_ms": float(total or 0) / calls if calls else 0.0})
    return found


def server_statements(physical: str, limit: int = 5) -> list[dict[str, Any]] | None:
    """Return pg_stat_statements' slowest statements on the table, or None when the server does not keep them."""
    try:
        with db.session.begin_nested():
            if not db.session.scalar(text("SELECT to_regclass('pg_stat_statements') IS NOT NULL")):
                return None
            rows = db.session.execute(text(
                "SELECT query, calls, mean_exec_time AS mean_ms, max_exec_time AS max_ms FROM pg_stat_statements "
                "WHERE query LIKE :like ORDER BY mean_exec_time DESC LIMIT :limit"),
                {"like": f'%"{physical}"%', "limit": limit}).mappings().all()
            return [dict(r) for r in rows]
    except Exception:  # not readable by this role, or a server without the view's columns
        return None


def indexed_prefixes(physical: str) -> list[tuple[str, ...]]:
    """Return the column lists of the table's indexes (primary key included), in index order."""
    rows = db.session.execute(text("""
        SELECT array_agg(a.attname ORDER BY k.ord)
        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = to_regclass(:t) GROUP BY i.indexrelid"""), {"t": physical}).scalars().all()
    return [tuple(r) for r in rows]


def suggestion(shape: Shape, known: set[str], prefixes: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """Return the index columns `shape` would use and no index leads with, or None when it is served."""
    columns = [f for f in (*shape.filters, *shape.order) if f in known and f not in SYSTEM]
    columns = list(dict.fromkeys(columns))[:3]
    if not columns:
        return None
    if any(p[:1] == (columns[0],) for p in prefixes):
        return None
    return tuple(columns)


def report(tenant_id: int, plugin_id: str, table: str, physical: str, known: set[str]) -> dict[str, Any]:
    """Return what the table's insight panel shows: slowest shapes with suggestions, and server statistics."""
    prefixes = indexed_prefixes(physical)
    shapes = slowest(tenant_id, plugin_id, table)
    for item in shapes:
        item["suggest"] = suggestion(item["shape"], known, prefixes)
    return {"shapes": shapes, "server": server_statements(physical),
            "suggestions": list(dict.fromkeys(i["suggest"] for i in shapes if i["suggest"]))}


def _next_patch(version: str) -> str:
    core, _, _ = version.split("+")[0].partition("-")
    major, minor, patch = (int(p) for p in core.split("."))
    return f"{major}.{minor}.{patch + 1}"


def accept(plugin_id: str, table: str, fields: list[str], actor: str | None = None) -> ExtensionMigration:
    """Add an index on `fields` to the table as a new patch version of the extension, and apply it."""
    row = registry.get(plugin_id)
    if not row.applied_definition:
        raise ValidationError.single("plugin", "installed", f"{plugin_id} has nothing installed.")
    if row.version != row.applied_version:
        raise ValidationError.single("version", "pending", f"{plugin_id} {row.version} is registered but not "
                                     "applied; apply or replace it before adding an index.")
    definition = copy.deepcopy(row.applied_definition)
    spec = next((t for t in definition.get("tables", []) if t["name"] == table), None)
    if spec is None:
        raise ValidationError.single("table", "unknown", f"{plugin_id} has no table {table!r}.")
    manifest = Manifest.model_validate(definition)
    known = {f.name for f in manifest.table(table).fields} | {
        r.sourceField for r in manifest.relationships if r.source == table and r.type != "ManyToMany"}
    fields = [f for f in dict.fromkeys(fields) if f]
    if not fields or any(f not in known for f in fields) or len(fields) > 3:
        raise ValidationError.single("fields", "unknown", f"fields: 1 to 3 fields of {table}, from "
                                     f"{', '.join(sorted(known))}.")
    physical = names.table_name(manifest.metadata.namespace, table)
    if any(p[:len(fields)] == tuple(fields) for p in indexed_prefixes(physical)):
        raise ValidationError.single("fields", "exists", f"An index on {table} ({', '.join(fields)}) exists.")
    spec.setdefault("indexes", []).append({"fields": fields})
    definition["version"] = _next_patch(row.applied_version)
    _, migration = registry.upgrade(plugin_id, definition, actor=actor)
    db.session.commit()
    return executor.execute(plugin_id, migration.migration_id).migration
