"""Pickers search on the server: any of 100,000 companies can be found and given to a partner."""

import re

from sqlalchemy import text

from strata.db import db
from strata.tenancy.service import tenant_context


def _many_companies(tenant, count=100_000):
    with tenant_context(tenant.id):
        db.session.execute(text(
            "INSERT INTO companies (name, company_number) SELECT 'Company ' || lpad(n::text, 6, '0'), "
            "lpad(n::text, 8, '0') FROM generate_series(1, :count) AS n"), {"count": count})
        db.session.execute(text("INSERT INTO companies (name) VALUES ('Acme & Sons'), ('Acme % Partners')"))
        db.session.commit()


def test_any_of_100000_companies_can_be_found_and_given_to_a_partner(client, login, tenant):
    _many_companies(tenant)
    login(tenant=tenant, role="editor")
    found = client.get(f"/t/{tenant.slug}/pick/companies?q=Company 099403&for=pick-company_id")
    body = found.get_data(as_text=True)
    assert found.status_code == 200 and body.count('role="option"') == 1
    assert "Company 099403" in body and "00099403" in body
    company_id = re.search(r'data-value="(\d+)"', body)[1]
    by_number = client.get(f"/t/{tenant.slug}/pick/companies?q=00012345").get_data(as_text=True)
    assert re.findall(r'data-label="([^"]+)"', by_number)[0] == "Company 012345 (00012345)"
    assert client.get(f"/t/{tenant.slug}/pick/companies?q=Company").get_data(as_text=True).count('role="option"') == 20

    created = client.post(f"/t/{tenant.slug}/partners/new", data={"company_id": company_id, "name": "Pat Partner"})
    assert created.status_code in (200, 302), created.get_data(as_text=True)[:500]
    listing = client.get(f"/t/{tenant.slug}/partners/").get_data(as_text=True)
    assert "Pat Partner" in listing and "Company 099403" in listing  # the name, not "#99403"


def test_wildcards_are_text_and_the_form_shows_the_chosen_company(client, login, tenant):
    _many_companies(tenant, count=10)
    login(tenant=tenant, role="editor")
    percent = client.get(f"/t/{tenant.slug}/pick/companies?q=%").get_data(as_text=True)
    assert re.findall(r'data-label="([^"]+)"', percent) == ["Acme % Partners"]
    none = client.get(f"/t/{tenant.slug}/pick/companies?q=zzz").get_data(as_text=True)
    assert "Nothing matches" in none and 'role="option"' not in none
    first = re.search(r'data-value="(\d+)"', client.get(f"/t/{tenant.slug}/pick/companies?q=Acme %26").get_data(
        as_text=True))[1]
    form = client.get(f"/t/{tenant.slug}/partners/new?company_id={first}").get_data(as_text=True)
    assert 'value="Acme &amp; Sons"' in form and f'name="company_id" value="{first}"' in form
    assert client.get(f"/t/{tenant.slug}/pick/nothing?q=a").status_code == 404


def test_pickers_need_membership(client, login, tenant, make_tenant):
    other = make_tenant()
    login(tenant=tenant, role="viewer")
    assert client.get(f"/t/{tenant.slug}/pick/companies?q=a").status_code == 200
    assert client.get(f"/t/{other.slug}/pick/companies?q=a").status_code == 404
