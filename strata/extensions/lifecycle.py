"""Enable, disable and uninstall extensions, and export their data as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg import sql

from strata.db import db
from strata.errors import ValidationError
from strata.extensions import names, registry, runtime
from strata.extensions.ddl import render
from strata.extensions.executor import _lock
from strata.extensions.manifest import Manifest
from strata.extensions.models import ExtensionMigration


def set_enabled(plugin_id: str, enabled: bool, actor: str | None = None) -> None:
    """Enable or disable an extension: disabled, its data stays and its API and pages are hidden."""
    row = registry.get(plugin_id)
    row.deactivated_at = None if enabled else (row.deactivated_at or datetime.now(UTC))
    row.updated_by = actor
    runtime.changed()
    db.session.flush()


def export(plugin_id: str) -> dict[str, Any]:
    """Return the installed tables' rows (and relationship links) of an extension as JSON-ready data."""
    row = registry.get(plugin_id)
    data: dict[str, Any] = {"pluginId": plugin_id, "version": row.applied_version,
                            "exportedAt": datetime.now(UTC).isoformat(), "tables": {}}
    if not row.applied_definition:
        return data
    manifest = Manifest.model_validate(row.applied_definition)
    for name, spec in runtime.build(plugin_id, manifest).items():
        result = db.session.execute(sa.select(spec.table).order_by(spec.table.c.created_at, spec.table.c.id))
        data["tables"][name] = [_jsonable(dict(r)) for r in result.mappings()]
    for rel in manifest.relationships:
        if rel.type == "ManyToMany":
            join = names.join_table_name(manifest.metadata.namespace, rel.source, rel.sourceField)
            rows = db.session.execute(sa.text(f"SELECT source_id::text, target_id::text FROM {_q(join)}"))  # noqa: S608
            data["tables"][f"{rel.source}.{rel.sourceField}"] = [dict(r) for r in rows.mappings()]
    return data


def _q(name: str) -> str:
    return render("{}", name)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif value is not None and not isinstance(value, str | int | float | bool | list | dict):
            value = str(value)
        out[key] = value
    return out


def _dependents(plugin_id: str, manifest: Manifest) -> list[str]:
    mine = {names.table_name(manifest.metadata.namespace, t.name) for t in manifest.tables}
    found = []
    for other in registry.list_schemas():
        if other.plugin_id == plugin_id or not other.applied_definition:
            continue
        if any(r.target in mine for r in Manifest.model_validate(other.applied_definition).relationships):
            found.append(other.plugin_id)
    return found


def uninstall(plugin_id: str, confirm: str) -> dict[str, Any]:
    """Export an extension's data, drop its tables and types and forget it; return the export.

    `confirm` must repeat the plugin id. Refused (ValidationError) while another installed
    extension has a relationship to one of its tables.
    """
    if confirm != plugin_id:
        raise ValidationError.single("confirm", "confirm", f"Type the plugin id {plugin_id!r} to confirm uninstalling.")
    row = registry.get(plugin_id)
    db.session.commit()
    _lock()
    row = registry.get(plugin_id)
    data = export(plugin_id)
    if row.applied_definition:
        manifest = Manifest.model_validate(row.applied_definition)
        dependents = _dependents(plugin_id, manifest)
        if dependents:
            db.session.rollback()
            raise ValidationError.single("pluginId", "in_use", f"{', '.join(dependents)} relate to tables of "
                                         f"{plugin_id}; uninstall them first.")
        ns, connection = manifest.metadata.namespace, db.session.connection()
        for rel in manifest.relationships:
            if rel.type == "ManyToMany":
                connection.exec_driver_sql(render("DROP TABLE {}", names.join_table_name(ns, rel.source,
                                                                                        rel.sourceField)))
        tables = [names.table_name(ns, t.name) for t in manifest.tables]
        if tables:
            connection.exec_driver_sql(render("DROP TABLE {}", sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
        for enum in manifest.enums:
            connection.exec_driver_sql(render("DROP TYPE {}", names.enum_name(ns, enum.name)))
    db.session.execute(sa.delete(ExtensionMigration).where(ExtensionMigration.plugin_id == plugin_id))
    db.session.delete(row)
    runtime.changed()
    db.session.commit()
    return data

