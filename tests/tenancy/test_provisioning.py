"""Provisioning creates schema, role, grants and tables together, or nothing at all."""

import textwrap

import pytest
from sqlalchemy import func, select, text

from strata.accounts.models import Membership
from strata.db import db
from strata.errors import ValidationError
from strata.tenancy import migrations
from strata.tenancy.models import Tenant
from strata.tenancy.service import create_tenant, drop_tenant, role_prefix, tenant_context


def write_revision(folder, revision: str, upgrade_body: str) -> None:
    """Write a tenant revision on top of the current head into `folder`."""
    head = migrations.script_directory().get_current_head()
    body = textwrap.indent(textwrap.dedent(upgrade_body).strip(), "    ")
    (folder / f"{revision}.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {head!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n"
    )


def _exists(kind: str, name: str) -> bool:
    query = {
        "schema": "SELECT 1 FROM pg_namespace WHERE nspname = :n",
        "role": "SELECT 1 FROM pg_roles WHERE rolname = :n",
    }[kind]
    return db.session.execute(text(query), {"n": name}).first() is not None


def test_create_tenant_builds_schema_role_and_tables(app, make_user):
    owner = make_user()
    tenant = create_tenant("acme", "Acme Ltd", owner_id=owner.id)
    role = role_prefix() + "acme"
    assert tenant.schema_name == "tenant_acme" and tenant.db_role == role
    assert _exists("schema", "tenant_acme") and _exists("role", role)
    owner_of_schema = db.session.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'tenant_acme'")).scalar()
    assert owner_of_schema == role
    tables = set(db.session.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'tenant_acme'")).scalars())
    assert {"audit_logs", "alembic_version"} <= tables
    version = db.session.execute(text("SELECT version_num FROM tenant_acme.alembic_version")).scalar()
    assert version == migrations.script_directory().get_current_head()
    membership = db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id))
    assert membership.user_id == owner.id and membership.role == "admin"
    login_role_is_member = db.session.execute(
        text("SELECT pg_has_role(current_user, :r, 'USAGE')"), {"r": role}).scalar()
    assert login_role_is_member


def test_tenant_role_cannot_log_in_and_has_no_public_write(app, make_tenant):
    tenant = make_tenant()
    can_login = db.session.execute(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"),
                                   {"r": tenant.db_role}).scalar()
    assert can_login is False
    with tenant_context(tenant.id):
        # It may read the public columns granted to strata_tenant…
        db.session.execute(text("SELECT id, email FROM public.users")).all()
        # …but not the password hashes, and it may not change platform tables.
        for statement in ("SELECT password_hash FROM public.users",
                          "SELECT * FROM public.memberships",
                          "UPDATE public.tenants SET name = 'x'"):
            with pytest.raises(Exception, match="permission denied"):
                with db.session.begin_nested():
                    db.session.execute(text(statement))


@pytest.mark.parametrize("slug", ["Acme", "has space", "quote'", "semi;colon", "x" * 41, "public", "pg_x",
                                  "information_schema"])
def test_bad_slug_creates_nothing(app, slug):
    roles_before = db.session.execute(text("SELECT count(*) FROM pg_roles")).scalar()
    schemas_before = db.session.execute(text("SELECT count(*) FROM pg_namespace")).scalar()
    with pytest.raises(ValidationError) as caught:
        create_tenant(slug, "Bad")
    assert caught.value.errors[0].field == "slug"
    assert db.session.execute(text("SELECT count(*) FROM pg_roles")).scalar() == roles_before
    assert db.session.execute(text("SELECT count(*) FROM pg_namespace")).scalar() == schemas_before
    assert db.session.scalar(select(func.count(Tenant.id))) == 0


def test_duplicate_slug_is_refused(app, make_tenant):
    make_tenant("acme")
    with pytest.raises(ValidationError) as caught:
        create_tenant("acme", "Another Acme")
    assert caught.value.errors[0].rule == "unique"
    assert db.session.scalar(select(func.count(Tenant.id))) == 1


def test_blank_name_is_refused(app):
    with pytest.raises(ValidationError) as caught:
        create_tenant("acme", "   ")
    assert caught.value.errors[0].field == "name"
    assert not _exists("schema", "tenant_acme")


def test_failure_halfway_leaves_no_schema_role_or_row(app, tmp_path, make_user):
    """A migration that fails after the schema, role and first tables exist rolls all of it back."""
    write_revision(tmp_path, "fail_halfway", """
        op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("SELECT 1 / 0")
    """)
    owner = make_user()
    failing = migrations.script_directory([str(tmp_path)])
    with pytest.raises(Exception, match="division by zero"):
        create_tenant("halfway", "Halfway", owner_id=owner.id, script=failing)
    assert not _exists("schema", "tenant_halfway")
    assert not _exists("role", role_prefix() + "halfway")
    assert db.session.scalar(select(func.count(Tenant.id))) == 0
    assert db.session.scalar(select(func.count(Membership.id))) == 0
    # The slug is free again afterwards.
    create_tenant("halfway", "Halfway")
    assert _exists("schema", "tenant_halfway")


def test_drop_tenant_removes_schema_role_and_memberships(app, make_tenant, make_user):
    user = make_user()
    tenant = make_tenant("gone", members={user: "admin"})
    drop_tenant(tenant.slug)
    assert not _exists("schema", "tenant_gone")
    assert not _exists("role", tenant.db_role)
    assert db.session.scalar(select(func.count(Membership.id))) == 0


def test_migrate_all_upgrades_only_tenants_behind(app, make_tenant, tmp_path):
    first, second = make_tenant(), make_tenant()
    write_revision(tmp_path, "extra_note", """
        op.add_column("audit_logs", sa.Column("note", sa.Text))
    """)
    from strata.tenancy.service import migrate_tenants

    assert sorted(migrate_tenants().up_to_date) == sorted([first.slug, second.slug])
    extended = migrations.script_directory([str(tmp_path)])
    report = migrate_tenants(extended)
    assert report.upgraded == {first.slug: ["extra_note"], second.slug: ["extra_note"]}
    assert not report.failed
    for tenant in (first, second):
        columns = db.session.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = 'audit_logs'"
        ), {"s": tenant.schema_name}).scalars().all()
        assert "note" in columns
    again = migrate_tenants(extended)
    assert sorted(again.up_to_date) == sorted([first.slug, second.slug]) and not again.upgraded
