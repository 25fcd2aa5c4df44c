"""The data page shows rows as people read them: headings, enum labels, linked names, dates in the tenant's zone."""

from strata.business_objects import service
from strata.db import db
from strata.extensions import rest, runtime
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM


def test_rows_read_with_labels_names_and_local_dates(client, login, tenant, admin, install):
    with tenant_context(tenant.id):
        company = service.create("company", {"name": "Globex Corporation", "company_number": "00000042"},
                                 actor_id=None)
        db.session.commit()
        company_id = company.id
        install(CRM)
        rest.create_row(runtime.table("acme-crm", "deal"), {
            "title": "Globex pilot", "stage": "won", "company_id": company_id, "closed": True,
            "closes_on": "2025-07-01T23:30:00+00:00", "details": {"seats": 20}})
        db.session.commit()
    login(admin, tenant=tenant)
    page = client.get(f"/t/{tenant.slug}/extensions/acme-crm/data/deal/", headers={"Accept-Language": "de"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ">Closes on<" in body and ">Company id<" in body
    assert 'title="won">Gewonnen<' in body  # the German label, the stored value on hover
    assert f'<a href="/t/{tenant.slug}/companies/{company_id}">Globex Corporation</a>' in body
    assert "2025-07-01 23:30" in body and ">yes<" in body and "{&#34;seats&#34;: 20}" in body
    english = client.get(f"/t/{tenant.slug}/extensions/acme-crm/data/deal/").get_data(as_text=True)
    assert ">won<" in english and "Gewonnen" not in english
