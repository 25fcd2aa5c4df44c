"""Extension pages: the list with a manifest form, preview, apply with progress, history and rollback.

Admins paste or upload a manifest; "Check" validates it inline, "Preview" registers it and plans the
migration (shown with its SQL, tables, rows and locks), "Apply" runs it in a worker while the page
polls its progress. Members of every role see the list and the history; the data browser is in `data.py`.
"""

from __future__ import annotations

import json
import secrets

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata import jobs
from strata.core import queues
from strata.db import db
from strata.errors import ValidationError
from strata.extensions import backups, executor, lifecycle, preview, registry, runtime
from strata.extensions import dashboard as _cards  # noqa: F401  (registers the dashboard card)
from strata.extensions.models import ExtensionMigration
from strata.extensions.progress import read_progress, read_refusal

bp = tenant_blueprint("extensions", __name__, url_prefix="/extensions")
EXPORT_TTL = 3600
EXAMPLE = json.dumps({
    "pluginId": "acme-crm", "version": "1.0.0", "metadata": {"namespace": "crm", "author": "Acme"},
    "enums": [{"name": "stage", "values": ["lead", "won", "lost"]}],
    "tables": [{"name": "deal", "fields": [
        {"name": "title", "type": "String", "required": True, "validation": {"maxLength": 80}},
        {"name": "amount", "type": "Decimal", "validation": {"min": 0}},
        {"name": "stage", "type": "stage", "required": True, "default": "lead"}]}],
    "relationships": [{"source": "deal", "sourceField": "company_id", "target": "companies", "type": "OneToMany"}],
}, indent=2)


def _manifest_source() -> str:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read().decode("utf-8", errors="replace")
    return request.form.get("manifest", "")


def _form(status: int = 200, *, errors: list | None = None, source: str = "", message: str = ""):
    return render_template("extensions/_manifest_form.html", errors=errors or [], source=source,
                           message=message, allow_destructive=bool(request.form.get("allow_destructive"))), status


def _migration(plugin_id: str, migration_id: str) -> ExtensionMigration:
    found = next((m for m in registry.migrations(plugin_id) if str(m.id) == migration_id), None)
    if found is None:
        abort(404)
    return found


@bp.get("/")
def index():
    """Show the tenant's extensions with their status, and the manifest form."""
    return render_template("extensions/index.html", schemas=registry.list_schemas(), errors=[], source="",
                           message="", example=EXAMPLE, allow_destructive=False,
                           conflicts=registry.detect_conflicts())


@bp.post("/validate")
@role_required("admin")
def validate():
    """Re-render the manifest form with every problem inline (422), or with a success note."""
    source = _manifest_source()
    try:
        manifest = registry.validate(source)
    except ValidationError as exc:
        db.session.rollback()
        return _form(422, errors=exc.errors, source=source)
    return _form(source=source, message=f"{manifest.pluginId} {manifest.version} is valid: "
                                         f"{len(manifest.tables)} tables, {len(manifest.enums)} enums.")


@bp.post("/preview")
@role_required("admin")
def preview_manifest():
    """Register (or upgrade to) the manifest and show the planned migration; 422 with the form if refused."""
    source = _manifest_source()
    allow = bool(request.form.get("allow_destructive"))
    try:
        manifest = registry.validate(source)
        known = {s.plugin_id for s in registry.list_schemas()}
        if manifest.pluginId in known:
            row, migration = registry.upgrade(manifest.pluginId, source, actor=current_user.email,
                                              allow_destructive=allow)
        else:
            row, migration = registry.register(source, actor=current_user.email, allow_destructive=allow)
    except ValidationError as exc:
        db.session.rollback()
        return _form(422, errors=exc.errors, source=source)
    impact = preview.impact(migration)
    db.session.commit()
    return render_template("extensions/_preview.html", row=row, migration=migration, impact=impact)


@bp.post("/<plugin_id>/migrations/<migration_id>/apply")
@role_required("admin")
def apply(plugin_id: str, migration_id: str):
    """Queue the migration for a worker and show its progress."""
    migration = _migration(plugin_id, migration_id)
    jobs.enqueue("extensions.apply_migration", g.access.tenant_id, plugin_id, str(migration.id))
    return render_template("extensions/_progress.html", migration=migration, progress=None, polling=True,
                           refused=None)


@bp.get("/<plugin_id>/migrations/<migration_id>/status")
def status(plugin_id: str, migration_id: str):
    """Return the migration's progress; keeps polling while it is pending or executing."""
    migration = _migration(plugin_id, migration_id)
    refused = read_refusal(g.access.tenant_id, str(migration.id)) if migration.status != "executed" else None
    polling = migration.status in ("pending", "executing") and refused is None
    return render_template("extensions/_progress.html", migration=migration, polling=polling, refused=refused,
                           progress=read_progress(g.access.tenant_id, plugin_id))


@bp.get("/<plugin_id>/")
def detail(plugin_id: str):
    """Show one extension: status, tables, migration history with checksums, and its controls."""
    row = registry.get(plugin_id)
    installed = runtime.current().tables.get(plugin_id, {})
    return page_or_partial("extensions/detail.html", "extensions/_history.html", row=row, tables=installed,
                           migrations=registry.migrations(plugin_id), verify=executor.verify,
                           backups=backups.list_for(plugin_id))


@bp.get("/<plugin_id>/migrations/<migration_id>/rollback")
@role_required("admin")
def rollback_confirm(plugin_id: str, migration_id: str):
    """Show what rolling the migration back drops, with row counts, the export link and the confirmation."""
    migration, losses = executor.rollback_preview(plugin_id, str(_migration(plugin_id, migration_id).id))
    return render_template("extensions/_rollback_confirm.html", migration=migration, losses=losses, errors=[])


@bp.post("/<plugin_id>/migrations/<migration_id>/rollback")
@role_required("admin")
def rollback(plugin_id: str, migration_id: str):
    """Roll the migration back and reload the page; 422 with the confirmation and the reason if refused."""
    migration = _migration(plugin_id, migration_id)
    try:
        outcome = executor.rollback(plugin_id, str(migration.id), actor=current_user.email,
                                    allow_destructive=bool(request.form.get("allow_destructive")))
    except ValidationError as exc:
        db.session.rollback()
        migration, losses = executor.rollback_preview(plugin_id, str(migration.id))
        return render_template("extensions/_rollback_confirm.html", migration=migration, losses=losses,
                               errors=exc.errors), 422
    flash(outcome.message, "success")
    target = url_for(".detail", plugin_id=plugin_id)
    if request.htmx:  # the header, tables and history all change: reload the whole page
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


@bp.get("/<plugin_id>/backups/<backup_id>.json")
@role_required("admin")
def download_backup(plugin_id: str, backup_id: str):
    """Download what a rollback copied aside, as JSON."""
    found = backups.get(plugin_id, backup_id)
    data = {"plugin": plugin_id, "migration": found.migration_id, "table": found.source_table,
            "column": found.source_column, "reason": found.reason, "rows": backups.rows(found)}
    return Response(json.dumps(data, indent=2, default=str), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename={plugin_id}-backup-{found.id}.json"})


@bp.post("/<plugin_id>/backups/<backup_id>/restore")
@role_required("admin")
def restore_backup(plugin_id: str, backup_id: str):
    """Put a backup's data back into its table (existing rows are left alone)."""
    found = backups.get(plugin_id, backup_id)
    try:
        count = backups.restore(found)
        db.session.commit()
        flash(f"Restored {count} rows from the backup of {found.source_table}.", "success")
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".detail", plugin_id=plugin_id))


@bp.post("/<plugin_id>/enabled")
@role_required("admin")
def set_enabled(plugin_id: str):
    """Enable or disable the extension (its data stays either way)."""
    enabled = request.form.get("enabled") == "1"
    lifecycle.set_enabled(plugin_id, enabled, current_user.email)
    db.session.commit()
    flash(f"{plugin_id} is {'enabled' if enabled else 'disabled; its data is kept'}.", "success")
    return redirect(url_for(".detail", plugin_id=plugin_id))


@bp.post("/<plugin_id>/uninstall")
@role_required("admin")
def uninstall(plugin_id: str):
    """Export the data, drop the extension's tables and forget it; the export stays downloadable for an hour."""
    try:
        data = lifecycle.uninstall(plugin_id, request.form.get("confirm", "").strip())
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".detail", plugin_id=plugin_id))
    token = secrets.token_urlsafe(16)
    queues.connection.set(_export_key(token), json.dumps(data), ex=EXPORT_TTL)
    flash(f"{plugin_id} was uninstalled.", "success")
    return redirect(url_for(".index", export=token))


def _export_key(token: str) -> str:
    return f"strata:extensions:export:{g.access.tenant_id}:{token}"


@bp.get("/exports/<token>.json")
@role_required("admin")
def download_export(token: str):
    """Download the JSON export kept after an uninstall; 404 once it has expired."""
    raw = queues.connection.get(_export_key(token))
    if raw is None:
        abort(404)
    return Response(raw, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=extension-export-{token[:8]}.json"})


@bp.get("/<plugin_id>/export.json")
@role_required("admin")
def export(plugin_id: str):
    """Download the extension's installed data as JSON."""
    data = lifecycle.export(plugin_id)
    return Response(json.dumps(data, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename={plugin_id}-export.json"})
