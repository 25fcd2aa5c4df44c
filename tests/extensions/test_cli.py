"""`flask extensions install | list | verify | apply | rollback`."""

from pathlib import Path

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


def test_install_registers_and_applies_a_manifest_file_and_refuses_bad_ones(runner, tenant, tmp_path):
    examples = Path(__file__).resolve().parents[2] / "examples" / "extensions"
    result = runner.invoke(args=["extensions", "install", tenant.slug, str(examples / "custom_report.json")])
    assert result.exit_code == 0, result.output
    assert "planned" in result.output and "applied" in result.output
    with tenant_context(tenant.id):
        [row] = registry.list_schemas()
        assert row.applied_version == row.version and row.status == "active"
        tables = set(db.session.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'plugin_%'")))
        assert tables
    again = runner.invoke(args=["extensions", "install", tenant.slug, str(examples / "custom_report.json")])
    assert again.exit_code == 1 and "must be greater than the installed version" in again.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("pluginId: Not A Plugin\nversion: one\ntables: []\n")
    refused = runner.invoke(args=["extensions", "install", tenant.slug, str(broken)])
    assert refused.exit_code == 1 and "pluginId" in refused.output and "version" in refused.output
    with tenant_context(tenant.id):
        assert len(registry.list_schemas()) == 1
