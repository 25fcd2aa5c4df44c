"""Tenant-schema migrations: Alembic revisions applied per tenant, each with its own version table.

The revisions live in `migrations/tenant/versions/`. They name no schema: each tenant's
upgrade runs inside a transaction whose role and search_path are that tenant's, so its
tables land in, and are owned by, the tenant. `migrate_all` reads every tenant's version
in one statement and only opens a transaction for tenants that are behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from strata.db import Scope, apply_scope

log = logging.getLogger(__name__)

TENANT_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "tenant"
VERSION_TABLE = "alembic_version"

_scripts: dict[tuple[str, ...], ScriptDirectory] = {}


def script_directory(extra_locations: Sequence[str] = ()) -> ScriptDirectory:
    """Return the (cached) tenant revision scripts, plus any extra version folders."""
    key = tuple(extra_locations)
    if key not in _scripts:
        cfg = Config()
        cfg.set_main_option("script_location", str(TENANT_MIGRATIONS))
        locations = [str(TENANT_MIGRATIONS / "versions"), *extra_locations]
        cfg.set_main_option("version_locations", " ".join(locations))
        cfg.set_main_option("path_separator", "space")
        _scripts[key] = ScriptDirectory.from_config(cfg)
    return _scripts[key]


def upgrade_schema(connection: Connection, scope: Scope, script: ScriptDirectory, target: str = "heads") -> list[str]:
    """Apply pending revisions to `scope`'s schema inside the caller's transaction; return their ids."""
    apply_scope(connection, scope)
    applied: list[str] = []

    def upgrade(rev, context):
        steps = script._upgrade_revs(target, rev)
        applied.extend(step.revision.revision for step in steps)
        return steps

    context = MigrationContext.configure(
        connection,
        opts={"version_table_schema": scope.schema, "version_table": VERSION_TABLE, "fn": upgrade, "script": script},
    )
    with Operations.context(context):
        context.run_migrations()
    apply_scope(connection, None)
    return applied


def current_versions(connection: Connection, schemas: Iterable[str]) -> dict[str, set[str]]:
    """Return each schema's applied revision ids, read in a single statement."""
    schemas = list(schemas)
    if not schemas:
        return {}
    existing = {
        row[0]
        for row in connection.execute(
            text("SELECT table_schema FROM information_schema.tables WHERE table_name = :t AND table_schema = ANY(:s)"),
            {"t": VERSION_TABLE, "s": schemas},
        )
    }
    versions: dict[str, set[str]] = {s: set() for s in schemas}
    if existing:
        parts = [
            sql.SQL("SELECT {} AS s, version_num FROM {}.{}").format(
                sql.Literal(s), sql.Identifier(s), sql.Identifier(VERSION_TABLE)
            )
            for s in sorted(existing)
        ]
        query = sql.SQL(" UNION ALL ").join(parts).as_string(None)
        for schema, version in connection.exec_driver_sql(query):
            versions[schema].add(version)
    return versions


@dataclass
class MigrateReport:
    """What `migrate_all` did: tenants already at head, upgraded ones, and failures."""

    up_to_date: list[str] = field(default_factory=list)
    upgraded: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def migrate_all(
    engine: Engine,
    scopes: Sequence[Scope],
    script: ScriptDirectory | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> MigrateReport:
    """Bring every tenant schema in `scopes` to head, one transaction per tenant that is behind."""
    script = script or script_directory()
    heads = set(script.get_heads())
    report = MigrateReport()
    with engine.connect() as connection:
        versions = current_versions(connection, [s.schema for s in scopes])
        connection.rollback()
    for scope in scopes:
        if versions.get(scope.schema) == heads:
            report.up_to_date.append(scope.slug)
            continue
        try:
            with engine.begin() as connection:
                report.upgraded[scope.slug] = upgrade_schema(connection, scope, script)
        except Exception as exc:  # recorded per tenant; the others still migrate
            log.exception("migrating tenant %s failed", scope.slug)
            report.failed[scope.slug] = str(exc).splitlines()[0]
        if progress:
            outcome = "failed" if scope.slug in report.failed else "upgraded"
            progress(scope.slug, outcome)
    return report
