"""Object pages: custom columns, typed filters, sort, htmx partials, create with 422s, inline edit, history."""

import pytest
from sqlalchemy import func, select

from strata.business_objects.models import BusinessObjectExtension, Partner
from strata.db import db
from strata.tenancy.service import tenant_context

HTMX = {"HX-Request": "true"}


@pytest.fixture
def as_admin(login, admin, tenant):
    return login(admin, tenant=tenant)


@pytest.fixture
def acme(tenant, bo, admin):
    """A company with two partners whose integer custom field `employees` is 10 and 9 (a max-500 rule on it)."""
    with tenant_context(tenant.id):
        bo.field("partner", "employees", "integer", label="Employees")
        bo.validator("partner", "employees_range", "range", field_name="employees",
                     config={"kind": "number", "max": 500})
        company = bo.company("Acme Ltd")
        big = bo.partner(company.id, "Big Partner", {"employees": 10})
        small = bo.partner(company.id, "Small Partner", {"employees": 9})
        db.session.commit()
        return {"company": company.id, "big": big.id, "small": small.id}


def url(tenant, path="partners/"):
    return f"/t/{tenant.slug}/{path}"


def count(tenant, model):
    with tenant_context(tenant.id):
        return db.session.scalar(select(func.count()).select_from(model))


def test_list_renders_custom_field_columns(client, as_admin, tenant, acme):
    response = client.get(url(tenant))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Employees" in body and "Big Partner" in body and "Small Partner" in body and "Acme Ltd" in body
    assert "<html" in body and 'id="objects-table"' in body


def test_typed_filter_compares_numbers_not_text(client, as_admin, tenant, acme):
    body = client.get(url(tenant), query_string={"employees": "gt:9"}).get_data(as_text=True)
    assert "Big Partner" in body and "Small Partner" not in body
    body = client.get(url(tenant), query_string={"employees": "lt:10"}).get_data(as_text=True)
    assert "Small Partner" in body and "Big Partner" not in body  # as text, "10" < "9"


def test_add_filter_row_redirects_to_the_query_string_form(client, as_admin, tenant, acme):
    response = client.get(url(tenant), query_string={"f_field": "employees", "f_op": "gte", "f_value": "10"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/partners/?employees=gte.10")
    response = client.get(url(tenant), query_string={"f_field": "employees", "f_op": "gte", "f_value": "10"},
                          headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Push-Url"].endswith("?employees=gte.10")
    assert "Big Partner" in response.get_data(as_text=True)
    assert "Small Partner" not in response.get_data(as_text=True)


def test_bad_filter_is_422_with_the_message(client, as_admin, tenant, acme):
    response = client.get(url(tenant), query_string={"employees": "gt:many"})
    assert response.status_code == 422
    assert "Employees must be a whole number" in response.get_data(as_text=True)


def test_sort_by_custom_field_both_ways(client, as_admin, tenant, acme):
    body = client.get(url(tenant), query_string={"sort": "employees"}).get_data(as_text=True)
    assert body.index("Small Partner") < body.index("Big Partner")
    body = client.get(url(tenant), query_string={"sort": "-employees"}).get_data(as_text=True)
    assert body.index("Big Partner") < body.index("Small Partner")


def test_htmx_gets_only_the_table_partial(client, as_admin, tenant, acme):
    response = client.get(url(tenant), query_string={"sort": "name"}, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="objects"') and "<html" not in body


def test_pagination_50_per_page(client, as_admin, tenant, bo):
    with tenant_context(tenant.id):
        for i in range(51):
            bo.product(f"Item {i:02d}")
        db.session.commit()
    body = client.get(url(tenant, "products/"), query_string={"sort": "name"}).get_data(as_text=True)
    assert "1–50 of 51" in body and "Item 49" in body and "Item 50" not in body
    body = client.get(url(tenant, "products/"), query_string={"sort": "name", "page": "2"}).get_data(as_text=True)
    assert "51–51 of 51" in body and "Item 50" in body


def test_partner_form_shows_the_chosen_company_fields(client, as_admin, tenant, bo, acme):
    with tenant_context(tenant.id):
        other = bo.company("Other Co").id
        bo.field("partner", "tier", "string", label="Acme tier", company_id=acme["company"])
        db.session.commit()
    body = client.get(url(tenant, "partners/new")).get_data(as_text=True)
    assert "Employees" in body and "Acme tier" not in body
    response = client.get(url(tenant, "partners/new"), query_string={"company_id": acme["company"]}, headers=HTMX)
    assert response.status_code == 200 and "Acme tier" in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True)
    body = client.get(url(tenant, "partners/new"), query_string={"company_id": other}).get_data(as_text=True)
    assert "Acme tier" not in body


def test_create_refused_by_range_validator_then_fixed(client, as_admin, tenant, acme):
    data = {"company_id": str(acme["company"]), "name": "New Partner", "email": "", "employees": "900"}
    response = client.post(url(tenant, "partners/new"), data=data, headers=HTMX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="object-form"' in body and 'id="e-employees"' in body
    assert "Employees must be at most 500" in body
    assert count(tenant, Partner) == 2 and count(tenant, BusinessObjectExtension) == 2

    response = client.post(url(tenant, "partners/new"), data={**data, "employees": "42"})
    assert response.status_code == 302
    with tenant_context(tenant.id):
        created = db.session.scalars(select(Partner.id).where(Partner.name == "New Partner")).one()
    assert response.headers["Location"].endswith(f"/partners/{created}")
    assert "42" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_click_to_edit_a_value_and_see_the_history(client, as_admin, tenant, acme, admin):
    base = url(tenant, f"partners/{acme['big']}")
    edit = client.get(f"{base}/values/employees/edit", headers=HTMX)
    assert edit.status_code == 200 and 'name="employees"' in edit.get_data(as_text=True)

    refused = client.post(f"{base}/values/employees", data={"employees": "501"}, headers=HTMX)
    assert refused.status_code == 422 and 'id="e-employees"' in refused.get_data(as_text=True)

    saved = client.post(f"{base}/values/employees", data={"employees": "12"}, headers=HTMX)
    assert saved.status_code == 200
    body = saved.get_data(as_text=True)
    assert 'id="value-employees"' in body and "12" in body and 'hx-swap-oob="true"' in body

    cancel = client.get(f"{base}/values/employees", headers=HTMX)
    assert cancel.status_code == 200 and ">12</div>" in cancel.get_data(as_text=True)

    page = client.get(base).get_data(as_text=True)
    assert "History" in page and "<code>employees</code>: 10 → 12" in page and "Ada Admin" in page
    assert "update" in page and "create" in page


def test_edit_core_value_and_delete(client, as_admin, tenant, acme):
    base = url(tenant, f"partners/{acme['small']}")
    assert client.post(f"{base}/values/name", data={"name": "Renamed"}, headers=HTMX).status_code == 200
    refused = client.post(f"{base}/values/name", data={"name": ""}, headers=HTMX)
    assert refused.status_code == 422 and "Name is required." in refused.get_data(as_text=True)
    response = client.post(f"{base}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/partners/")
    assert count(tenant, Partner) == 1


def test_viewer_reads_but_cannot_write(client, login, make_user, tenant, acme):
    login(make_user(), tenant=tenant, role="viewer")
    assert client.get(url(tenant)).status_code == 200
    detail = client.get(url(tenant, f"partners/{acme['big']}"))
    assert detail.status_code == 200 and "Big Partner" in detail.get_data(as_text=True)
    assert "/values/employees/edit" not in detail.get_data(as_text=True)
    assert client.get(url(tenant, "partners/new")).status_code == 403
    data = {"company_id": str(acme["company"]), "name": "Nope"}
    assert client.post(url(tenant, "partners/new"), data=data).status_code == 403
    assert client.post(url(tenant, f"partners/{acme['big']}/values/name"), data={"name": "x"}).status_code == 403
    assert client.post(url(tenant, f"partners/{acme['big']}/delete")).status_code == 403
    assert count(tenant, Partner) == 2


def test_another_tenants_object_is_404(client, login, make_user, make_tenant, tenant, acme):
    user = make_user()
    mine = make_tenant(members={user: "admin"})
    login(user)
    assert client.get(url(mine, f"partners/{acme['big']}")).status_code == 404
    assert client.post(url(mine, f"partners/{acme['big']}/values/name"), data={"name": "x"}).status_code == 404
    assert client.get(url(tenant, f"partners/{acme['big']}")).status_code == 404  # not a member there


def test_companies_and_products_share_the_views(client, as_admin, tenant):
    response = client.post(url(tenant, "products/new"), data={"name": "Gadget", "sku": "G-1", "price": "-1"})
    assert response.status_code == 422 and "Price must be zero or more" in response.get_data(as_text=True)
    response = client.post(url(tenant, "products/new"), data={"name": "Gadget", "sku": "G-1", "price": "9.50"})
    assert response.status_code == 302
    detail = client.get(response.headers["Location"])
    assert detail.status_code == 200 and "9.50" in detail.get_data(as_text=True)
    assert "Gadget" in client.get(url(tenant, "products/")).get_data(as_text=True)
    response = client.post(url(tenant, "companies/new"), data={"name": "Initech", "company_number": "sc 123456"})
    assert response.status_code == 302
    assert "SC123456" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert "No products match" in client.get(url(tenant, "products/"), query_string={"q": "zzz"}).get_data(as_text=True)
    assert client.get(url(tenant, "spaceships/")).status_code == 404


def test_dashboard_counts_business_objects(client, as_admin, tenant, acme):
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Open companies" in body and f'href="/t/{tenant.slug}/companies/"' in body
    assert 'aria-current="page">Dashboard' in body and 'aria-current="page">Members' not in body
