"""Installed extension tables as SQLAlchemy `Table` objects, shared by every process without restart.

Each process keeps, per tenant, the tables built from the registry's installed definitions
(`applied_definition`; no reflection), tagged with the tenant's extension version (see
`strata.tenant_cache`): a counter in Redis bumped after any transaction that installs, rolls back,
enables, disables or uninstalls an extension commits. Using the tables costs one Redis GET; a
different version rebuilds them from the registry (one query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID

from strata.db import db
from strata.errors import NotFound
from strata.extensions import names
from strata.extensions.manifest import Manifest
from strata.tenant_cache import TenantCache

TYPES = {"String": sa.Text, "Int": sa.BigInteger, "Float": sa.Double, "Boolean": sa.Boolean,
         "DateTime": lambda: sa.DateTime(timezone=True), "Decimal": sa.Numeric, "Json": JSONB}
SQL_TYPES = {"uuid": lambda: UUID(as_uuid=False), "integer": sa.Integer, "bigint": sa.BigInteger, "text": sa.Text,
             "double precision": sa.Double, "numeric": sa.Numeric, "boolean": sa.Boolean,
             "timestamp with time zone": lambda: sa.DateTime(timezone=True)}


@dataclass(frozen=True)
class TableSpec:
    """One installed extension table: its plugin, manifest name, SQLAlchemy table and field rules."""

    plugin_id: str
    name: str
    table: sa.Table
    fields: dict[str, dict[str, Any]]
    enums: dict[str, list[str]]
    relations: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def physical(self) -> str:
        """Return the table's name in PostgreSQL."""
        return self.table.name

    def enum_values(self, field_name: str) -> list[str] | None:
        """Return the allowed values if the field is an enum, else None."""
        spec = self.fields.get(field_name)
        return self.enums.get(spec["type"]) if spec else None


@dataclass(frozen=True)
class Installed:
    """The installed extensions of one tenant: plugin id → {table name → TableSpec}, and which are enabled."""

    tables: dict[str, dict[str, TableSpec]]
    enabled: frozenset[str]
    manifests: dict[str, Manifest]


def build(plugin_id: str, manifest: Manifest, metadata: sa.MetaData | None = None) -> dict[str, TableSpec]:
    """Return TableSpecs for a manifest's tables (join tables are not exposed)."""
    from strata.extensions.registry import resolve_targets

    metadata = metadata or sa.MetaData()
    ns = manifest.metadata.namespace
    enums = {e.name: list(e.values) for e in manifest.enums}
    targets = resolve_targets(manifest, plugin_id)[0] if manifest.relationships else {}
    specs = {}
    for table in manifest.tables:
        columns = [sa.Column("id", UUID(as_uuid=False), primary_key=True, server_default=sa.text("gen_random_uuid()")),
                   sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
                   sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now())]
        fields = {}
        for f in table.fields:
            kind = (ENUM(*enums[f.type], name=names.enum_name(ns, f.type), create_type=False)
                    if f.type in enums else TYPES[f.type]())
            columns.append(sa.Column(f.name, kind, nullable=not f.required))
            fields[f.name] = f.model_dump(mode="json", exclude_none=True)
        relations = {}
        for i, rel in enumerate(manifest.relationships):
            if rel.source == table.name and rel.type != "ManyToMany" and i in targets:
                target = targets[i]
                columns.append(sa.Column(rel.sourceField, SQL_TYPES.get(target.sql_type, sa.Text)(),
                                         nullable=not rel.required))
                relations[rel.sourceField] = {"target": target.table, "column": target.column,
                                              "sql_type": target.sql_type, "required": rel.required, "type": rel.type}
        physical = names.table_name(ns, table.name)
        specs[table.name] = TableSpec(plugin_id, table.name, sa.Table(physical, metadata, *columns), fields, enums,
                                      relations, _links(manifest, table.name, targets, metadata))
    return specs


def _links(manifest: Manifest, table: str, targets: dict, metadata: sa.MetaData) -> dict[str, dict[str, Any]]:
    """Return the ManyToMany relationships of `table`: their join tables and what they point at."""
    links = {}
    for i, rel in enumerate(manifest.relationships):
        if rel.source != table or rel.type != "ManyToMany" or i not in targets:
            continue
        target = targets[i]
        join = sa.Table(names.join_table_name(manifest.metadata.namespace, rel.source, rel.sourceField), metadata,
                        sa.Column("source_id", UUID(as_uuid=False), primary_key=True),
                        sa.Column("target_id", SQL_TYPES.get(target.sql_type, sa.Text)(), primary_key=True),
                        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()))
        links[rel.sourceField] = {"join": join, "target": target.table, "column": target.column,
                                  "sql_type": target.sql_type}
    return links


def load() -> Installed:
    """Build the current tenant's installed extension tables from the registry."""
    from strata.extensions.models import ExtensionSchema

    rows = db.session.scalars(select(ExtensionSchema).where(ExtensionSchema.applied_definition.is_not(None)))
    metadata, tables, enabled, manifests = sa.MetaData(), {}, set(), {}
    for row in rows:
        manifest = Manifest.model_validate(row.applied_definition)
        manifests[row.plugin_id] = manifest
        tables[row.plugin_id] = build(row.plugin_id, manifest, metadata)
        if row.enabled:
            enabled.add(row.plugin_id)
    return Installed(tables, frozenset(enabled), manifests)


CACHE = TenantCache("extensions:version", load, "extension tables")
current = CACHE.current  # the current tenant's Installed tables
changed = CACHE.changed  # call after an install, rollback, enable, disable or uninstall
forget = CACHE.forget  # drop this process's copy: a statement met a table that changed under it
version_key = CACHE.version_key


def table(plugin_id: str, name: str) -> TableSpec:
    """Return an enabled plugin's installed table; raise NotFound otherwise."""
    installed = current()
    if plugin_id not in installed.enabled or name not in installed.tables.get(plugin_id, {}):
        raise NotFound(f"no extension table {plugin_id}/{name}")
    return installed.tables[plugin_id][name]


def is_stale(exc: BaseException) -> bool:
    """True if a database error says a table or column this process knew is gone (changed by another process)."""
    from psycopg import errors

    return isinstance(getattr(exc, "orig", None), errors.UndefinedColumn | errors.UndefinedTable
                      | errors.UndefinedObject | errors.InvalidTextRepresentation | errors.DatatypeMismatch) \
        and "plugin_" in str(getattr(exc, "orig", ""))
