from sqlalchemy import text

from strata.db import db
from strata.extensions import rest, runtime
from tests.extensions.conftest import CRM


def test_install_and_use(scoped, install):
    migration = install(CRM)
    assert migration.status == "executed"
    spec = runtime.table("acme-crm", "deal")
    row = rest.create_row(spec, {"title": "Big one", "amount": "12.50", "code": "ABC-1"})
    assert row["stage"] == "lead" and row["probability"] == 10
    page = rest.list_rows(spec, rest.parse_filters(spec, [("stage", ["eq.lead"])]), [], 10, 0)
    assert page.total == 1
    assert db.session.scalar(text("SELECT count(*) FROM plugin_crm_deal")) == 1
