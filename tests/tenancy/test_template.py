"""A tenant provisioned from the recorded template has the very catalogue of a migrated one."""

from sqlalchemy import text

from strata.db import Scope, db, public_scope
from strata.tenancy import catalogue, migrations, template
from strata.tenancy.service import _create_space, create_tenant


def _migrated_snapshot(slug: str) -> dict:
    """Migrate a fresh schema revision by revision (inside a transaction that is rolled back)."""
    schema, role = f"tenant_{slug}", f"migrated_{slug}_role"
    with public_scope():
        connection = db.session.connection()
        _create_space(connection, schema, role)
        applied = migrations.upgrade_schema(connection, Scope(0, slug, schema, role), migrations.script_directory())
        assert applied[-1] in migrations.script_directory().get_heads()
        snap = catalogue.snapshot(connection, schema, role)
        db.session.rollback()
    return snap


def test_templated_tenant_catalogue_equals_a_migrated_one(app):
    tenant = create_tenant("templated", "Templated")
    templated = catalogue.snapshot(db.session.connection(), tenant.schema_name, tenant.db_role)
    db.session.rollback()
    migrated = _migrated_snapshot("migrated")
    assert templated["columns"] and templated["indexes"] and templated["triggers"] and templated["functions"]
    assert templated["alembic_version"] == sorted(migrations.script_directory().get_heads())
    for part in migrated:
        assert templated[part] == migrated[part], part


def test_snapshot_sees_a_changed_default_and_grant(app, make_tenant):
    first, second = make_tenant(), make_tenant()
    snap = catalogue.snapshot(db.session.connection(), first.schema_name, first.db_role)
    assert snap == catalogue.snapshot(db.session.connection(), second.schema_name, second.db_role)
    db.session.execute(text(f'ALTER TABLE "{second.schema_name}".audit_logs ALTER COLUMN action SET DEFAULT \'x\''))
    db.session.execute(text(f'GRANT SELECT ON "{second.schema_name}".audit_logs TO PUBLIC'))
    changed = catalogue.snapshot(db.session.connection(), second.schema_name, second.db_role)
    assert changed["columns"] != snap["columns"] and changed["relations"] != snap["relations"]
    db.session.rollback()


def test_template_records_once_per_set_of_heads(app, make_tenant):
    make_tenant()
    recorded = dict(template._templates)
    make_tenant()
    assert template._templates == recorded
