"""The tenant's extension registry: validate, register, upgrade, get, list and unregister manifests.

Registering or upgrading validates the manifest on its own (`checks`), against the database
(names taken by core tables or other plugins, relationship targets, column limits) and then
plans the migration from the installed version; the plan is stored as a `pending` migration
for `executor.execute`. Destructive plans are refused unless `allow_destructive`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.extensions import catalog, checks, names
from strata.extensions.ddl import SQL_TYPES, Target
from strata.extensions.manifest import Manifest, parse
from strata.extensions.models import ExtensionMigration, ExtensionSchema
from strata.extensions.planning import plan_migration


def semver_key(version: str) -> tuple:
    """Return a sort key for a semantic version (a pre-release sorts before its release)."""
    core, _, pre = version.split("+")[0].partition("-")
    return (*(int(p) for p in core.split(".")), 0 if pre else 1, pre)


def get(plugin_id: str) -> ExtensionSchema:
    """Return the plugin's registry row; raise NotFound."""
    row = db.session.scalar(select(ExtensionSchema).where(ExtensionSchema.plugin_id == plugin_id))
    if row is None:
        raise NotFound(f"no extension {plugin_id!r}")
    return row


def list_schemas() -> list[ExtensionSchema]:
    """Return every registered extension, by plugin id."""
    return list(db.session.scalars(select(ExtensionSchema).order_by(ExtensionSchema.plugin_id)))


def _others(plugin_id: str) -> list[tuple[str, Manifest]]:
    """Return (plugin id, manifest) of every other plugin's registered and installed definitions."""
    found = []
    for row in db.session.scalars(select(ExtensionSchema).where(ExtensionSchema.plugin_id != plugin_id)):
        for definition in (row.schema_definition, row.applied_definition):
            if definition:
                found.append((row.plugin_id, Manifest.model_validate(definition)))
    return found


def own_objects(manifest: Manifest | None) -> set[str]:
    """Return every physical relation and type name a manifest creates (tables, join tables, enums, indexes)."""
    if manifest is None:
        return set()
    ns, found = manifest.metadata.namespace, set()
    for table in manifest.tables:
        physical = names.table_name(ns, table.name)
        found |= {physical, names.short(f"pk_{physical}")}
    for rel in manifest.relationships:
        if rel.type == "ManyToMany":
            join = names.join_table_name(ns, rel.source, rel.sourceField)
            found |= {join, names.short(f"pk_{join}")}
    found |= {names.enum_name(ns, e.name) for e in manifest.enums}
    return found


def _table_conflicts(manifest: Manifest, plugin_id: str, installed: Manifest | None) -> list[FieldError]:
    errors, ns = [], manifest.metadata.namespace
    mine = own_objects(installed)
    existing_relations = catalog.relations() - mine
    existing_types = catalog.types() - mine
    for other_id, other in _others(plugin_id):
        if other.metadata.namespace == ns:
            errors.append(FieldError("metadata.namespace", "conflict",
                                     f"metadata.namespace: {ns!r} is already used by the extension {other_id!r}."))
            return errors
    for i, table in enumerate(manifest.tables):
        physical = names.table_name(ns, table.name)
        if physical in existing_relations:
            errors.append(FieldError(f"tables[{i}].name", "conflict", f"tables[{i}].name: the table {physical!r} "
                                     "already exists in this tenant (a core table or another extension's)."))
        if physical in names.CORE_TABLES:
            errors.append(FieldError(f"tables[{i}].name", "conflict", f"tables[{i}].name: {physical!r} is core."))
    for i, enum in enumerate(manifest.enums):
        physical = names.enum_name(ns, enum.name)
        if physical in existing_types or physical in existing_relations:
            errors.append(FieldError(f"enums[{i}].name", "conflict",
                                     f"enums[{i}].name: a type {physical!r} already exists in this tenant."))
    return errors


def _installed_tables(plugin_id: str) -> set[str]:
    """Return the physical tables of every other installed, enabled plugin."""
    query = select(ExtensionSchema).where(ExtensionSchema.plugin_id != plugin_id,
                                          ExtensionSchema.applied_definition.is_not(None),
                                          ExtensionSchema.deactivated_at.is_(None))
    found = set()
    for row in db.session.scalars(query):
        other = Manifest.model_validate(row.applied_definition)
        found |= {names.table_name(other.metadata.namespace, t.name) for t in other.tables}
    return found


def resolve_targets(manifest: Manifest, plugin_id: str) -> tuple[dict[int, Target], list[FieldError]]:
    """Return where each relationship points, and errors for targets that do not exist or are not unique."""
    targets, errors, ns = {}, [], manifest.metadata.namespace
    external = any(manifest.table(r.target) is None and r.target not in names.CORE_TABLES
                   for r in manifest.relationships)
    installed = _installed_tables(plugin_id) if external else set()
    for i, rel in enumerate(manifest.relationships):
        path = f"relationships[{i}]"
        own = manifest.table(rel.target)
        if own is not None:
            field = own.field(rel.targetField)
            sql_type = "uuid" if rel.targetField == "id" else (SQL_TYPES.get(field.type, "text") if field else "text")
            targets[i] = Target(names.table_name(ns, rel.target), rel.targetField, sql_type)
            continue
        if rel.target in installed or rel.target in names.CORE_TABLES:
            found = catalog.column(rel.target, rel.targetField)
            if found is None or not found["unique_key"]:
                errors.append(FieldError(f"{path}.targetField", "unique", f"{path}.targetField: {rel.target}."
                                         f"{rel.targetField} does not exist or is not a primary or unique key."))
                continue
            targets[i] = Target(rel.target, rel.targetField, found["sql_type"])
            continue
        errors.append(FieldError(f"{path}.target", "missing", f"{path}.target: {rel.target!r} is neither a table of "
                                 f"this manifest, a core table ({', '.join(names.CORE_TABLES)}) nor an installed, "
                                 "enabled extension table (plugin_<namespace>_<table>)."))
    return targets, errors


def _installed(row: ExtensionSchema | None) -> Manifest | None:
    return Manifest.model_validate(row.applied_definition) if row is not None and row.applied_definition else None


def validate(source: Any, plugin_id: str | None = None) -> Manifest:
    """Return the parsed manifest if it is valid for this tenant; raise ValidationError listing every problem."""
    manifest = parse(source)
    errors = []
    if plugin_id is not None and manifest.pluginId != plugin_id:
        errors.append(FieldError("pluginId", "mismatch", f"pluginId: {manifest.pluginId!r} does not match the "
                                 f"address's plugin {plugin_id!r}."))
    errors += checks.check(manifest)
    if errors:
        raise ValidationError(errors)
    existing = db.session.scalar(select(ExtensionSchema).where(ExtensionSchema.plugin_id == manifest.pluginId))
    installed = _installed(existing)
    errors += _table_conflicts(manifest, manifest.pluginId, installed)
    errors += resolve_targets(manifest, manifest.pluginId)[1]
    if errors:
        raise ValidationError(errors)
    return manifest


def register(source: Any, *, actor: str | None = None, plugin_id: str | None = None,
             allow_destructive: bool = False) -> tuple[ExtensionSchema, ExtensionMigration]:
    """Register a new plugin's manifest and plan its first migration (pending); ValidationError if invalid."""
    manifest = validate(source, plugin_id)
    if db.session.scalar(select(ExtensionSchema.id).where(ExtensionSchema.plugin_id == manifest.pluginId)):
        raise ValidationError.single("pluginId", "unique", f"pluginId: {manifest.pluginId!r} is already registered; "
                                     "upgrade it with a new version instead.")
    row = ExtensionSchema(plugin_id=manifest.pluginId, version=manifest.version,
                          schema_definition=manifest.definition(), status="pending", created_by=actor, updated_by=actor)
    try:
        with db.session.begin_nested():  # a concurrent registration of the same plugin loses cleanly
            db.session.add(row)
            migration = plan_migration(row, None, manifest, allow_destructive=allow_destructive)
    except IntegrityError:
        raise ValidationError.single("pluginId", "unique", f"pluginId: {manifest.pluginId!r} was just registered "
                                     "by someone else; upgrade it with a new version instead.") from None
    return row, migration


def upgrade(plugin_id: str, source: Any, *, actor: str | None = None,
            allow_destructive: bool = False) -> tuple[ExtensionSchema, ExtensionMigration]:
    """Register a new version of an installed or registered plugin and plan its migration; replaces a pending one."""
    row = get(plugin_id)
    manifest = validate(source, plugin_id)
    base = row.applied_version
    if base is not None and semver_key(manifest.version) <= semver_key(base):
        raise ValidationError.single("version", "increase", f"version: {manifest.version} must be greater than the "
                                     f"installed version {base}.")
    installed = Manifest.model_validate(row.applied_definition) if row.applied_definition else None
    if installed is not None and installed.definition() == manifest.definition():
        raise ValidationError.single("manifest", "unchanged", "manifest: nothing differs from the installed version.")
    for stale in db.session.scalars(select(ExtensionMigration).where(
            ExtensionMigration.plugin_id == plugin_id, ExtensionMigration.status.in_(("pending", "failed")))):
        db.session.delete(stale)
    try:
        with db.session.begin_nested():  # two upgrades at once would both take the next migration id
            migration = plan_migration(row, installed, manifest, allow_destructive=allow_destructive)
    except IntegrityError:
        raise ValidationError.single("version", "conflict", "Another version of this extension was registered at "
                                     "the same time; reload and try again.") from None
    row.version, row.schema_definition, row.updated_by = manifest.version, manifest.definition(), actor
    row.status, row.validation_errors = "pending", None
    db.session.flush()
    return row, migration


def unregister(plugin_id: str) -> None:
    """Remove a plugin that has nothing installed, with its migration history; ValidationError otherwise."""
    row = get(plugin_id)
    if row.applied_definition:
        raise ValidationError.single("pluginId", "installed", f"{plugin_id!r} has tables installed; uninstall it "
                                     "(which exports and drops its data) before unregistering.")
    db.session.execute(ExtensionMigration.__table__.delete().where(ExtensionMigration.plugin_id == plugin_id))
    db.session.delete(row)
    db.session.flush()


def detect_conflicts() -> list[dict[str, Any]]:
    """Return conflicts among the registered plugins: shared namespaces, tables, enums, missing targets."""
    conflicts, seen = [], {}
    for row in list_schemas():
        manifest = Manifest.model_validate(row.schema_definition)
        for kind, name in [("namespace", manifest.metadata.namespace),
                           *(("table", names.table_name(manifest.metadata.namespace, t.name)) for t in manifest.tables),
                           *(("enum", names.enum_name(manifest.metadata.namespace, e.name)) for e in manifest.enums)]:
            other = seen.setdefault((kind, name), row.plugin_id)
            if other != row.plugin_id:
                conflicts.append({"kind": kind, "name": name, "plugins": [other, row.plugin_id],
                                  "message": f"{other} and {row.plugin_id} both declare the {kind} {name}."})
        for error in resolve_targets(manifest, row.plugin_id)[1]:
            conflicts.append({"kind": "relationship", "name": error.field, "plugins": [row.plugin_id],
                              "message": f"{row.plugin_id}: {error.message}"})
    return conflicts


def migrations(plugin_id: str) -> list[ExtensionMigration]:
    """Return the plugin's migrations, newest first."""
    get(plugin_id)
    query = (select(ExtensionMigration).where(ExtensionMigration.plugin_id == plugin_id)
             .order_by(ExtensionMigration.migration_id.desc()))
    return list(db.session.scalars(query))


def dry_run(source: Any, plugin_id: str | None = None) -> tuple[Manifest, Any]:
    """Validate a manifest and plan its migration from the installed version without storing anything."""
    from strata.extensions.planning import plan

    manifest = validate(source, plugin_id)
    existing = db.session.scalar(select(ExtensionSchema).where(ExtensionSchema.plugin_id == manifest.pluginId))
    stub = existing or ExtensionSchema(plugin_id=manifest.pluginId)
    return manifest, plan(stub, _installed(existing), manifest, "preview")
