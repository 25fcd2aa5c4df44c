"""`flask extensions list | verify | apply | rollback`."""

from sqlalchemy import text

from strata.db import db
from strata.extensions import registry
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM


def test_apply_list_verify_and_rollback(runner, tenant):
    with tenant_context(tenant.id):
        registry.register(CRM)
    result = runner.invoke(args=["extensions", "apply", tenant.slug, "acme-crm"])
    assert result.exit_code == 0 and "applied" in result.output
    assert "already applied" in runner.invoke(args=["extensions", "apply", tenant.slug, "acme-crm"]).output
    listing = runner.invoke(args=["extensions", "list", tenant.slug]).output
    assert "acme-crm\t1.0.0\tinstalled 1.0.0\tactive" in listing
    assert runner.invoke(args=["extensions", "verify", tenant.slug]).exit_code == 0
    with tenant_context(tenant.id):
        db.session.execute(text("UPDATE extension_migrations SET rollback_sql = 'SELECT 1;'"))
    verify = runner.invoke(args=["extensions", "verify", tenant.slug])
    assert verify.exit_code == 1 and "changed after it was generated" in verify.output
    refused = runner.invoke(args=["extensions", "rollback", tenant.slug, "acme-crm", "0001_1.0.0"])
    assert refused.exit_code == 1 and "checksum" in refused.output + (refused.stderr or "")
    assert runner.invoke(args=["extensions", "list", "nope"]).exit_code == 1
