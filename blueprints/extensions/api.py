"""Management API of extensions under `/api/t/<slug>/extensions` (seed 003's endpoints).

Members of every role read; admins register, upgrade, execute, roll back and uninstall. A manifest
is the JSON body (or YAML text); `?allow_destructive=true` lets a migration, or a rollback, drop or narrow data
(after copying it to a backup table). Bad input is a 422 listing field (a JSON path), rule and message.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from blueprints import role_required, tenant_blueprint
from strata.db import db
from strata.extensions import backups, executor, generator, lifecycle, preview, registry
from strata.extensions.models import ExtensionMigration, ExtensionSchema

bp = tenant_blueprint("extensions_api", __name__, api=True, url_prefix="/extensions")


def schema_json(row: ExtensionSchema) -> dict[str, Any]:
    """Return a registry row as JSON."""
    return {"pluginId": row.plugin_id, "version": row.version, "status": row.status, "enabled": row.enabled,
            "appliedVersion": row.applied_version, "lastError": row.last_error,
            "registeredAt": row.registered_at.isoformat() if row.registered_at else None,
            "activatedAt": row.activated_at.isoformat() if row.activated_at else None,
            "schema": row.schema_definition}


def migration_json(m: ExtensionMigration, *, sql: bool = True) -> dict[str, Any]:
    """Return a migration record as JSON, with its checksum verdict."""
    data = {"id": str(m.id), "migrationId": m.migration_id, "pluginId": m.plugin_id, "version": m.version,
            "fromVersion": m.from_version, "status": m.status, "allowDestructive": m.allow_destructive,
            "checksums": {"schema": m.checksum_schema, "sql": m.checksum_sql},
            "checksumValid": not executor.verify(m), "errorMessage": m.error_message,
            "executionStart": m.execution_start.isoformat() if m.execution_start else None,
            "executionEnd": m.execution_end.isoformat() if m.execution_end else None}
    if sql:
        data.update(sql=m.migration_sql, rollbackSql=m.rollback_sql,
                    steps=[{"description": s["description"], "destructive": s.get("destructive", "")}
                           for s in m.steps])
    return data


def _manifest() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        return request.get_data(as_text=True)
    return body


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


def _actor() -> str:
    return current_user.email


@bp.get("/")
def list_extensions():
    """Return every registered extension of the tenant."""
    return {"items": [schema_json(row) for row in registry.list_schemas()]}


@bp.get("/conflicts")
def conflicts():
    """Return conflicts among registered extensions (shared names, missing relationship targets)."""
    return {"conflicts": registry.detect_conflicts()}


@bp.get("/<plugin_id>/schema")
def get_schema(plugin_id: str):
    """Return the plugin's registered schema and status; 404 if it is not registered."""
    return schema_json(registry.get(plugin_id))


@bp.post("/<plugin_id>/schema")
@role_required("admin")
def register_schema(plugin_id: str):
    """Register a manifest and plan its first migration; 201 with the pending migration, or 422.

    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Manifest"}
    """
    row, migration = registry.register(_manifest(), actor=_actor(), plugin_id=plugin_id,
                                       allow_destructive=_flag("allow_destructive"))
    body = {**schema_json(row), "migration": migration_json(migration), "preview": preview.impact(migration)}
    db.session.commit()
    return body, 201


@bp.put("/<plugin_id>/schema")
@role_required("admin")
def upgrade_schema(plugin_id: str):
    """Register a new version and plan the migration from the installed one; 404 or 422.

    ---
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Manifest"}
    """
    row, migration = registry.upgrade(plugin_id, _manifest(), actor=_actor(),
                                      allow_destructive=_flag("allow_destructive"))
    body = {**schema_json(row), "migration": migration_json(migration), "preview": preview.impact(migration)}
    db.session.commit()
    return body


@bp.delete("/<plugin_id>/schema")
@role_required("admin")
def delete_schema(plugin_id: str):
    """Unregister a plugin; if it is installed, `?confirm=<pluginId>` uninstalls it and returns its data export."""
    row = registry.get(plugin_id)
    if row.applied_definition or request.args.get("confirm"):
        return lifecycle.uninstall(plugin_id, request.args.get("confirm", ""))
    registry.unregister(plugin_id)
    db.session.commit()
    return "", 204


@bp.post("/<plugin_id>/schema/validate")
@role_required("admin")
def validate_schema(plugin_id: str):
    """Validate a manifest and show the SQL it would run, without registering it; 200, or 422 with every problem.

    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Manifest"}
    """
    manifest, plan = registry.dry_run(_manifest(), plugin_id)
    db.session.rollback()
    return {"valid": True, "pluginId": manifest.pluginId, "version": manifest.version,
            "tables": [t.name for t in manifest.tables], "sql": generator.script(plan.forward()),
            "rollbackSql": generator.script(plan.backward()),
            "steps": [{"description": s.description, "destructive": s.destructive} for s in plan.steps]}


@bp.get("/<plugin_id>/migrations")
def list_migrations(plugin_id: str):
    """Return the plugin's migrations, newest first, with checksum verdicts."""
    return {"items": [migration_json(m) for m in registry.migrations(plugin_id)]}


@bp.post("/<plugin_id>/migrations/execute")
@role_required("admin")
def execute_migrations(plugin_id: str):
    """Apply the plugin's pending migration now; says so when it was already applied; 422 if it fails."""
    registry.get(plugin_id)
    outcome = executor.execute(plugin_id, request.args.get("migration"))
    return {"applied": outcome.ran, "message": outcome.message, "migration": migration_json(outcome.migration)}


@bp.get("/<plugin_id>/migrations/<migration_id>/rollback")
@role_required("admin")
def rollback_preview(plugin_id: str, migration_id: str):
    """Return what rolling the migration back would drop (tables, columns, enum values in use) with row counts."""
    registry.get(plugin_id)
    migration, losses = executor.rollback_preview(plugin_id, migration_id)
    return {"migration": migration_json(migration, sql=False), "destructive": bool(losses),
            "drops": [loss.as_json() for loss in losses], "rollbackSql": migration.rollback_sql}


@bp.post("/<plugin_id>/migrations/<migration_id>/rollback")
@role_required("admin")
def rollback_migration(plugin_id: str, migration_id: str):
    """Run a migration's stored rollback SQL; 404, or 422 if it is not the installed one, was edited, or would
    drop data without `allow_destructive` (the data is then backed up first)."""
    registry.get(plugin_id)
    outcome = executor.rollback(plugin_id, migration_id, allow_destructive=_flag("allow_destructive"),
                                actor=_actor())
    return {"rolledBack": outcome.ran, "message": outcome.message, "migration": migration_json(outcome.migration),
            "backups": [backup_json(b) for b in backups.list_for(plugin_id)
                        if b.migration_id == outcome.migration.migration_id and outcome.ran]}


def backup_json(b) -> dict[str, Any]:
    """Return a rollback backup as the API shows it."""
    return {"id": str(b.id), "migrationId": b.migration_id, "table": b.source_table, "column": b.source_column,
            "rows": b.row_count, "reason": b.reason, "createdAt": b.created_at.isoformat() if b.created_at else None,
            "createdBy": b.created_by, "restoredAt": b.restored_at.isoformat() if b.restored_at else None}


@bp.get("/<plugin_id>/backups")
@role_required("admin")
def list_backups(plugin_id: str):
    """Return the data rollbacks of this extension copied aside, newest first."""
    registry.get(plugin_id)
    return {"items": [backup_json(b) for b in backups.list_for(plugin_id)]}


@bp.get("/<plugin_id>/backups/<backup_id>")
@role_required("admin")
def get_backup(plugin_id: str, backup_id: str):
    """Return one backup with its data: whole rows, or {id, value} pairs for a column."""
    found = backups.get(plugin_id, backup_id)
    return {**backup_json(found), "data": backups.rows(found)}


@bp.post("/<plugin_id>/backups/<backup_id>/restore")
@role_required("admin")
def restore_backup(plugin_id: str, backup_id: str):
    """Put a backup's data back into its table (existing rows are left alone); 422 if the table cannot take it."""
    found = backups.get(plugin_id, backup_id)
    count = backups.restore(found)
    db.session.commit()
    return {"restored": count, "backup": backup_json(found)}


@bp.post("/<plugin_id>/enable")
@role_required("admin")
def enable(plugin_id: str):
    """Enable an extension: its tables are served again."""
    lifecycle.set_enabled(plugin_id, True, _actor())
    db.session.commit()
    return schema_json(registry.get(plugin_id))


@bp.post("/<plugin_id>/disable")
@role_required("admin")
def disable(plugin_id: str):
    """Disable an extension: its data stays, its REST API and pages are hidden."""
    lifecycle.set_enabled(plugin_id, False, _actor())
    db.session.commit()
    return schema_json(registry.get(plugin_id))


@bp.get("/<plugin_id>/export")
@role_required("admin")
def export(plugin_id: str):
    """Return the extension's installed data as JSON (admins, as on the extension's page)."""
    return lifecycle.export(plugin_id)
