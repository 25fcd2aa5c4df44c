"""Installed extension tables as SQLAlchemy `Table` objects, shared by every process without restart.

Each process keeps, per tenant, the tables built from the registry's installed definitions
(`applied_definition`; no reflection), tagged with the tenant's extension version: a counter in
Redis bumped after any transaction that installs, rolls back, enables, disables or uninstalls
an extension commits. Using the tables costs one Redis GET; a different version rebuilds them
from the registry (one query). Without Redis the registry is read on every use.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID
from sqlalchemy.orm import Session

from strata.core import queues
from strata.db import current_scope, db
from strata.errors import NotFound
from strata.extensions import names
from strata.extensions.manifest import Manifest

log = logging.getLogger(__name__)

_PENDING = "strata_extensions_changed"
_STORE = "strata_extension_tables"
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


def version_key(tenant_id: int) -> str:
    """Return the Redis key of a tenant's extension version counter."""
    return f"strata:extensions:version:{tenant_id}"


def _tenant_id() -> int:
    scope = current_scope()
    if scope is None:
        raise RuntimeError("extension tables need a tenant scope")
    return scope.tenant_id


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


def _read_version(tenant_id: int) -> bytes:
    connection = queues.connection
    version = connection.get(version_key(tenant_id))
    if version is None:
        pipe = connection.pipeline()
        pipe.set(version_key(tenant_id), secrets.randbits(48), nx=True)
        pipe.get(version_key(tenant_id))
        version = pipe.execute()[1]
    return version


def current() -> Installed:
    """Return the current tenant's installed tables, rebuilt only when another process changed them."""
    tenant_id = _tenant_id()
    if tenant_id in db.session().info.get(_PENDING, ()):
        return load()
    try:
        version = _read_version(tenant_id)
    except redis.RedisError:
        log.warning("redis unavailable; reading extension tables without the cache", exc_info=True)
        return load()
    store: dict[int, tuple[bytes, Installed]] = current_app.extensions.setdefault(_STORE, {})
    hit = store.get(tenant_id)
    if hit is not None and hit[0] == version:
        return hit[1]
    installed = load()
    store[tenant_id] = (version, installed)
    return installed


def table(plugin_id: str, name: str) -> TableSpec:
    """Return an enabled plugin's installed table; raise NotFound otherwise."""
    installed = current()
    if plugin_id not in installed.enabled or name not in installed.tables.get(plugin_id, {}):
        raise NotFound(f"no extension table {plugin_id}/{name}")
    return installed.tables[plugin_id][name]


def changed() -> None:
    """Mark the tenant's extensions as changed; every process rebuilds its tables once this transaction commits."""
    db.session().info.setdefault(_PENDING, set()).add(_tenant_id())


@event.listens_for(Session, "after_commit")
def _bump_versions(session: Session) -> None:
    tenants = session.info.pop(_PENDING, None)
    if not tenants:
        return
    try:
        pipe = queues.connection.pipeline()
        for tenant_id in tenants:
            pipe.set(version_key(tenant_id), secrets.randbits(48), nx=True)
            pipe.incr(version_key(tenant_id))
        pipe.execute()
    except redis.RedisError:
        log.exception("could not publish extension change for tenants %s", sorted(tenants))


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session: Session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
