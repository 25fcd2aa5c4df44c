"""The business objects JSON API: CRUD, typed list filters, 422 error shape, roles and tenant isolation."""

import pytest

from strata.tenancy.service import tenant_context


@pytest.fixture
def fields(tenant, bo):
    with tenant_context(tenant.id):
        bo.field("company", "employees", "integer", label="Employees")
        bo.field("company", "founded", "date", label="Founded")
        bo.field("company", "revenue", "decimal", label="Revenue")


@pytest.fixture
def api(client, login, admin, tenant, fields):
    login(admin)
    prefix = f"/api/t/{tenant.slug}"

    class Api:
        def __getattr__(self, method):
            def call(path, **kw):
                return getattr(client, method)(prefix + path, **kw)

            return call

    return Api()


def _create(api, name, **custom):
    response = api.post("/companies", json={"name": name, "custom_fields": custom})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_crud_round_trip(api):
    created = _create(api, "Acme", employees="12", founded="2001-05-04", revenue="10.50")
    assert created["name"] == "Acme" and created["custom_fields"] == {"employees": 12, "founded": "2001-05-04",
                                                                      "revenue": "10.5"}
    url = f"/companies/{created['id']}"
    assert api.get(url).get_json()["custom_fields"]["employees"] == 12
    patched = api.patch(url, json={"name": "Acme Group", "custom_fields": {"employees": 13, "founded": None}})
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "Acme Group"
    assert patched.get_json()["custom_fields"] == {"employees": 13, "revenue": "10.5"}
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_list_filters_and_sorts_typed(api):
    for name, employees, founded in (("Nine", 9, "2019-01-01"), ("Ten", 10, "2021-01-01"),
                                     ("Hundred", 100, "1990-01-01")):
        _create(api, name, employees=employees, founded=founded)
    body = api.get("/companies?employees=gte:10&sort=-employees").get_json()
    assert [i["name"] for i in body["items"]] == ["Hundred", "Ten"]
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    body = api.get("/companies?employees=gt:5&founded=lt:2020-01-01&sort=name&limit=1&offset=1").get_json()
    assert [i["name"] for i in body["items"]] == ["Nine"] and body["total"] == 2
    assert [i["name"] for i in api.get("/companies?q=HUN").get_json()["items"]] == ["Hundred"]


@pytest.mark.parametrize("query_string, field, rule", [
    ("?colour=eq:red", "colour", "unknown_field"),
    ("?employees=about:3", "employees", "operator"),
    ("?employees=gt:lots", "employees", "type"),
    ("?sort=-colour", "colour", "unknown_field"),
    ("?limit=0", "limit", "range"),
])
def test_bad_list_request_is_422_naming_field_and_rule(api, query_string, field, rule):
    response = api.get("/companies" + query_string)
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert (error["field"], error["rule"]) == (field, rule) and error["message"]


def test_invalid_write_is_422_with_field_rule_message(api):
    response = api.post("/companies", json={"name": "", "custom_fields": {"employees": "many", "colour": "red"}})
    assert response.status_code == 422
    errors = {(e["field"], e["rule"]): e["message"] for e in response.get_json()["errors"]}
    assert set(errors) == {("name", "required"), ("employees", "type"), ("colour", "unknown_field")}
    assert "Employees" in errors[("employees", "type")]
    assert api.get("/companies").get_json()["total"] == 0


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"name": "A", "custom_fields": [1]}'])
def test_malformed_body_is_a_clear_422(api, body):
    response = api.post("/companies", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["rule"] in ("json", "type")


@pytest.mark.parametrize("method, path, status", [
    ("get", "/companies", 200), ("get", "/companies/{id}", 200), ("post", "/companies", 403),
    ("patch", "/companies/{id}", 403), ("delete", "/companies/{id}", 403),
])
def test_viewer_reads_but_cannot_write(client, login, make_user, admin, tenant, bo, method, path, status):
    with tenant_context(tenant.id):
        company_id = bo.company("Acme").id
    login(make_user(), tenant=tenant, role="viewer")
    url = f"/api/t/{tenant.slug}" + path.format(id=company_id)
    response = getattr(client, method)(url, json={"name": "Changed"})
    assert response.status_code == status


def test_other_tenants_object_is_404(client, login, make_tenant, admin, tenant, bo):
    other = make_tenant(members={admin: "admin"})
    with tenant_context(other.id):
        theirs = bo.company("Theirs").id
    with tenant_context(tenant.id):
        ours = bo.company("Ours").id
    login(admin)
    if theirs == ours:  # ids are per schema; make sure the probed id exists only over there
        with tenant_context(other.id):
            theirs = bo.company("Theirs too").id
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/t/{tenant.slug}/companies/{theirs}", json={"name": "x"})
        assert response.status_code == 404, method
    assert client.get(f"/api/t/{tenant.slug}/partners/{ours}").status_code == 404


@pytest.mark.parametrize("path", ["/companies/2147483648", "/partners/99999999999", "/products/9223372036854775808"])
def test_ids_beyond_the_column_type_are_not_found(api, path):
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(path, json={})
        assert response.status_code == 404, (method, response.get_data(as_text=True))
        assert response.get_json()["error"]
