"""`flask tenants …` commands."""

from sqlalchemy import select, text

from strata.db import db
from strata.tenancy.models import Tenant


def test_create_list_migrate_drop(runner, make_user):
    owner = make_user("owner@example.com")
    result = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme Ltd", "--admin", owner.email])
    assert result.exit_code == 0, result.output
    assert "Created tenant acme" in result.output
    listed = runner.invoke(args=["tenants", "list"])
    assert "acme" in listed.output and "tenant_acme" in listed.output
    migrated = runner.invoke(args=["tenants", "migrate"])
    assert migrated.exit_code == 0 and "0 upgraded, 1 already at head, 0 failed" in migrated.output
    refused = runner.invoke(args=["tenants", "drop", "acme"])
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme")) is not None
    dropped = runner.invoke(args=["tenants", "drop", "acme", "--yes"])
    assert dropped.exit_code == 0
    assert db.session.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_acme'")).first() is None


def test_create_with_bad_slug_fails_clearly(runner):
    result = runner.invoke(args=["tenants", "create", "Bad Slug", "--name", "X"])
    assert result.exit_code == 1
    assert "slug: Slug must not contain capital letters" in result.output
    duplicate = runner.invoke(args=["tenants", "create", "ok", "--name", "X"])
    assert duplicate.exit_code == 0
    again = runner.invoke(args=["tenants", "create", "ok", "--name", "X"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_drop_unknown_tenant_fails_clearly(runner):
    result = runner.invoke(args=["tenants", "drop", "ghost", "--yes"])
    assert result.exit_code == 1 and "no tenant 'ghost'" in result.output
