"""CSV export/import pages and bulk set: streaming, 422s with errors by row and column, permissions."""

import csv
import io

import pytest
from sqlalchemy import func, select

from strata.audit import AuditLog
from strata.business_objects import service
from strata.business_objects.models import Company, Product
from strata.db import db
from strata.tenancy.service import tenant_context

HTMX = {"HX-Request": "true"}


@pytest.fixture
def as_admin(login, admin, tenant):
    return login(admin, tenant=tenant)


@pytest.fixture
def setup(tenant, bo):
    """Give companies an integer custom field `employees` and products a `weight`."""
    with tenant_context(tenant.id):
        bo.field("company", "employees", "integer")
        bo.field("product", "weight", "integer")


def count(tenant, model, *where):
    with tenant_context(tenant.id):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def upload(client, tenant, collection, text, valid_only=False, headers=None):
    data = {"file": (io.BytesIO(text.encode()), "data.csv")}
    if valid_only:
        data["import_valid_rows"] = "on"
    return client.post(f"/t/{tenant.slug}/{collection}/import", data=data, content_type="multipart/form-data",
                       headers=headers or {})


def test_export_streams_csv_with_custom_fields_and_filters(client, as_admin, tenant, setup, bo):
    with tenant_context(tenant.id):
        bo.company("Acme", custom={"employees": 12})
        bo.company("Beta", custom={"employees": 3})
    response = client.get(f"/t/{tenant.slug}/companies/export.csv?employees=gte:10&sort=name")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="companies-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "name", "company_number", "employees"]
    assert [r[1:4] for r in rows[1:]] == [["Acme", "", "12"]]


def test_export_bad_filter_is_422(client, as_admin, tenant):
    assert client.get(f"/t/{tenant.slug}/products/export.csv?nope=1").status_code == 422


def test_import_page_renders_form(client, as_admin, tenant, setup):
    page = client.get(f"/t/{tenant.slug}/products/import")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Import the valid rows and skip the others" in body and "weight" in body and 'name="csrf_token"' in body


def test_import_all_valid(client, as_admin, tenant, setup):
    response = upload(client, tenant, "companies", "name,employees\nAcme,12\nBeta,\n", headers=HTMX)
    assert response.status_code == 200
    assert "Imported 2 of 2 rows" in response.get_data(as_text=True)
    assert count(tenant, Company) == 2
    assert count(tenant, AuditLog, AuditLog.action == "create", AuditLog.entity_type == "company") == 2


def test_import_bad_row_imports_nothing_and_lists_errors(client, as_admin, tenant, setup):
    response = upload(client, tenant, "companies", "name,employees\nAcme,12\nBeta,abc\n", headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was imported" in body and "<th scope=\"col\">Problem</th>" in body
    assert "<td>3</td><td><code>employees</code></td>" in body and "whole number" in body
    assert count(tenant, Company) == 0


def test_import_valid_rows_only(client, as_admin, tenant, setup):
    response = upload(client, tenant, "products", "name,weight\nA,1\nB,abc\n", valid_only=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Imported 1 of 2 rows" in body and "<td>3</td>" in body
    with tenant_context(tenant.id):
        assert list(db.session.scalars(select(Product.name))) == ["A"]


def test_import_unknown_header_and_missing_file(client, as_admin, tenant):
    response = upload(client, tenant, "products", "name,colour\nA,red\n", headers=HTMX)
    assert response.status_code == 422
    assert "colour" in response.get_data(as_text=True) and count(tenant, Product) == 0
    response = client.post(f"/t/{tenant.slug}/products/import", data={}, headers=HTMX)
    assert response.status_code == 422 and "Choose a CSV file" in response.get_data(as_text=True)


def test_bulk_set_valid_and_invalid(client, as_admin, tenant, setup, bo):
    with tenant_context(tenant.id):
        ids = [bo.product("A").id, bo.product("B").id]
    url = f"/t/{tenant.slug}/products/bulk"
    response = client.post(url, data={"ids[]": [str(i) for i in ids], "field": "weight", "value": "5"}, headers=HTMX)
    assert response.status_code == 200 and "on 2 products" in response.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert [service.custom_values("product", i) for i in ids] == [{"weight": 5}, {"weight": 5}]
    response = client.post(url, data={"ids[]": [str(ids[0])], "field": "weight", "value": "abc"}, headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and f"<td>{ids[0]}</td>" in body and "Nothing was changed" in body
    with tenant_context(tenant.id):
        assert service.custom_values("product", ids[0]) == {"weight": 5}
    response = client.post(url, data={"ids[]": [str(ids[0])], "field": "colour", "value": "x"}, headers=HTMX)
    assert response.status_code == 422 and "colour" in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", True), ("admin", True)])
def test_import_and_bulk_need_editor(client, login, make_user, tenant, setup, role, allowed):
    login(make_user(), tenant=tenant, role=role)
    response = upload(client, tenant, "products", "name\nA\n")
    assert (response.status_code == 200) is allowed and (response.status_code == 403) is not allowed
    assert client.get(f"/t/{tenant.slug}/products/import").status_code == (200 if allowed else 403)
    response = client.post(f"/t/{tenant.slug}/products/bulk", data={"ids[]": ["1"], "field": "weight", "value": "1"})
    assert response.status_code in ((200, 422) if allowed else (403,))
    assert client.get(f"/t/{tenant.slug}/products/export.csv").status_code == 200


def test_non_member_gets_404(client, login, tenant):
    login()
    assert client.get(f"/t/{tenant.slug}/products/export.csv").status_code == 404


def test_list_page_offers_bulk_set_to_editors_and_reloads_after_it(client, as_admin, tenant, setup, bo):
    with tenant_context(tenant.id):
        first = bo.product("A").id
    page = client.get(f"/t/{tenant.slug}/products/").get_data(as_text=True)
    assert 'id="bulk-form"' in page and f'name="ids" value="{first}" form="bulk-form"' in page
    response = client.post(f"/t/{tenant.slug}/products/bulk",
                           data={"ids": [str(first)], "field": "weight", "value": "7"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "objects-changed"
    assert "Set weight on 1 product." in response.get_data(as_text=True)
    assert "objects-changed from:body" in client.get(f"/t/{tenant.slug}/products/", headers=HTMX).get_data(as_text=True)
