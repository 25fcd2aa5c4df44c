"""Migration t0006: the registry tables with the seed's status checks, and a downgrade that leaves nothing behind."""

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from strata.db import apply_scope, db
from strata.extensions import catalog
from strata.tenancy import migrations
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM


def _move(tenant, target: str, down: bool) -> None:
    script = migrations.script_directory()
    connection = db.session.connection()
    scope = tenant.scope()
    apply_scope(connection, scope)

    def step(rev, context):
        return script._downgrade_revs(target, rev) if down else script._upgrade_revs(target, rev)

    context = MigrationContext.configure(connection, opts={
        "version_table_schema": scope.schema, "version_table": migrations.VERSION_TABLE, "fn": step,
        "script": script})
    with Operations.context(context):
        context.run_migrations()
    apply_scope(connection, None)
    db.session.commit()


def test_status_checks(scoped):
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.execute(text("INSERT INTO extension_schemas (plugin_id, version, schema_definition, status) "
                                "VALUES ('p', '1.0.0', '{}', 'broken')"))
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.execute(text("INSERT INTO extension_migrations (plugin_id, migration_id, version, migration_sql, "
                                "schema_definition, status) VALUES ('p', 'm', '1.0.0', '', '{}', 'done')"))
    indexes = {r[0] for r in db.session.execute(text(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'extension_%'"))}
    assert {"idx_extension_schemas_status", "idx_extension_migrations_plugin_status",
            "idx_extension_migrations_created"} <= indexes


def test_downgrade_drops_installed_objects_and_upgrade_restores_the_registry(tenant, install):
    with tenant_context(tenant.id):
        before = catalog.snapshot()
    with tenant_context(tenant.id):
        install(CRM)
    _move(tenant, "t0005_streams", down=True)
    with tenant_context(tenant.id):
        left = {r for r in catalog.relations() if r.startswith(("plugin_", "extension_", "ext_backup_"))}
        assert left == set() and "plugin_crm_stage" not in catalog.types()
    _move(tenant, "heads", down=False)
    with tenant_context(tenant.id):
        assert catalog.snapshot() == before
