"""A spare schema built ahead of time becomes a tenant by renaming, identical to one built in place."""

import pytest
from psycopg import sql
from sqlalchemy import text

from strata.db import db
from strata.tenancy import catalogue, spares
from strata.tenancy.service import create_tenant, prepare_spares, role_prefix, tenant_context


@pytest.fixture
def no_spares_left(app):
    yield
    db.session.rollback()
    for schema, role in db.session.execute(text(
            r"SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname LIKE 'strata\_spare\_%'")):
        for statement in ("DROP SCHEMA {} CASCADE", "DROP OWNED BY {}", "DROP ROLE {}"):
            name = schema if "SCHEMA" in statement else role
            db.session.connection().exec_driver_sql(sql.SQL(statement).format(sql.Identifier(name)).as_string(None))
    db.session.commit()


def test_a_tenant_claims_a_spare_and_matches_a_tenant_built_in_place(app, no_spares_left):
    assert prepare_spares(2) == 2
    assert spares.count(role_prefix()) == 2
    claimed = create_tenant("claimed", "Claimed")
    assert spares.count(role_prefix()) == 1
    assert claimed.db_role == role_prefix() + "claimed" and claimed.schema_name == "tenant_claimed"
    with tenant_context(claimed.id):
        assert db.session.execute(text("SELECT current_user")).scalar() == claimed.db_role
        db.session.execute(text("INSERT INTO audit_logs (entity_type, entity_id, action) VALUES ('x', '1', 'create')"))
    # The other spare goes to a second tenant, so the next one is built in place.
    create_tenant("second", "Second")
    assert spares.count(role_prefix()) == 0
    in_place = create_tenant("in_place", "In place")
    connection = db.session.connection()
    built = catalogue.snapshot(connection, in_place.schema_name, in_place.db_role)
    renamed = catalogue.snapshot(connection, claimed.schema_name, claimed.db_role)
    renamed["row_counts"] = [(t, 0 if t == "audit_logs" else n) for t, n in renamed["row_counts"]]
    for part in built:
        assert renamed[part] == built[part], part
    db.session.rollback()


def test_spares_of_an_older_head_are_left_alone(app, no_spares_left, tmp_path):
    from strata.tenancy import migrations
    from tests.tenancy.test_provisioning import write_revision

    prepare_spares(1)
    write_revision(tmp_path, "spare_newer", 'op.create_table("newer", sa.Column("id", sa.Integer, primary_key=True))')
    newer = migrations.script_directory([str(tmp_path)])
    tenant = create_tenant("newer", "Newer", script=newer)
    assert spares.count(role_prefix()) == 1
    tables = db.session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                                {"s": tenant.schema_name}).scalars().all()
    assert "newer" in tables


def test_cli_builds_spares(runner, no_spares_left):
    result = runner.invoke(args=["tenants", "spares", "1"])
    assert result.exit_code == 0, result.output
    assert "Built 1 spare tenant schemas" in result.output
    assert spares.count(role_prefix()) == 1
    assert runner.invoke(args=["tenants", "spares", "-1"]).exit_code == 2
