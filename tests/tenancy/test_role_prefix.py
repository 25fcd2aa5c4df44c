"""Tenant roles carry a per-database prefix, and a role left on the server never blocks provisioning."""

import os

from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from strata.db import db
from strata.runtime import create_database, drop_database
from strata.tenancy.service import create_tenant, drop_tenant, list_tenants, role_prefix, tenant_context


def _whoami() -> str:
    return db.session.execute(text("SELECT current_user")).scalar()


def test_leftover_role_of_the_same_name_does_not_block_provisioning(app):
    leftover = role_prefix() + "acme"
    db.session.execute(text(f'CREATE ROLE "{leftover}" NOLOGIN'))
    db.session.commit()
    try:
        tenant = create_tenant("acme", "Acme")
        assert tenant.db_role != leftover and tenant.db_role.startswith(leftover + "_")
        with tenant_context(tenant.id):
            assert _whoami() == tenant.db_role
        drop_tenant("acme")
        assert db.session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": leftover}).first()
    finally:
        db.session.rollback()
        db.session.execute(text(f'DROP ROLE IF EXISTS "{leftover}"'))
        db.session.commit()


def test_configured_prefix_names_the_role(make_app):
    app = make_app(DB_ROLE_PREFIX="staging_")
    with app.app_context():
        tenant = create_tenant("acme", "Acme")
        assert tenant.db_role == "staging_acme"


def test_two_databases_on_one_server_each_have_tenant_acme(app, make_app):
    """A second Strata database beside the first: same slug in both, separate roles, each isolated."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    second_name = f"{url.database}_second"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    create_database(admin, second_name)
    try:
        first = create_tenant("acme", "Acme one")
        first_role = first.db_role
        second_app = make_app(SQLALCHEMY_DATABASE_URI=url.set(database=second_name).render_as_string(
            hide_password=False))
        with second_app.app_context():
            upgrade(directory=os.path.join(second_app.root_path, "migrations"))
            second = create_tenant("acme", "Acme two")
            assert second.db_role != first_role and second.db_role.startswith(f"{second_name}_"[:20])
            with tenant_context(second.id):
                assert _whoami() == second.db_role
                db.session.execute(text("INSERT INTO audit_logs (entity_type, entity_id, action) "
                                        "VALUES ('x', '1', 'create')"))
            for tenant in list_tenants():
                drop_tenant(tenant.slug)
            db.session.remove()
            db.engine.dispose()
        with tenant_context(first.id):
            assert _whoami() == first_role
            assert db.session.execute(text("SELECT count(*) FROM audit_logs")).scalar() == 0
    finally:
        drop_database(admin, second_name)
