"""The settings JSON API: custom fields and validators defined, changed, deactivated and tried over HTTP."""

import re

import pytest
from sqlalchemy import select

from strata.accounts.tokens import create_token
from strata.business_objects import definitions
from strata.business_objects.models import BusinessObjectValidator, CustomFieldDefinition
from strata.db import db
from strata.errors import ValidationError
from strata.tenancy.service import tenant_context
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def api(client, login, tenant, admin):
    """The admin's client, signed in; return the settings API's base URL."""
    login(admin, tenant=tenant)
    return f"/api/t/{tenant.slug}/settings"


def _errors(response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.get_data(as_text=True)
    return [(e["field"], e["rule"]) for e in response.get_json()["errors"]]


def test_define_list_change_and_deactivate_a_field(client, api, tenant):
    made = client.post(f"{api}/fields", json={"entity_type": "company", "name": "tier", "label": "Tier",
                                              "field_type": "select", "options": ["gold", "silver"],
                                              "default": "silver", "required": True})
    assert made.status_code == 201, made.get_data(as_text=True)
    field = made.get_json()
    assert (field["name"], field["field_type"], field["options"], field["default"]) == (
        "tier", "select", ["gold", "silver"], "silver")
    listed = client.get(f"{api}/fields?entity_type=company").get_json()["items"]
    assert [f["name"] for f in listed] == ["tier"]
    assert client.get(f"{api}/fields?entity_type=partner").get_json()["items"] == []
    assert [v["validator_name"] for v in client.get(f"{api}/validators").get_json()["items"]] == ["tier_required"]

    changed = client.patch(f"{api}/fields/{field['id']}", json={"label": "Customer tier", "position": 3})
    assert changed.status_code == 200 and changed.get_json()["label"] == "Customer tier"
    assert client.get(f"{api}/fields/{field['id']}").get_json()["position"] == 3
    gone = client.post(f"{api}/fields/{field['id']}/deactivate")
    assert gone.status_code == 200 and gone.get_json()["is_active"] is False
    with tenant_context(tenant.id):
        row = db.session.get(CustomFieldDefinition, field["id"])
        assert (row.label, row.position, row.is_active) == ("Customer tier", 3, False)


def test_refused_fields_get_the_pages_errors_and_change_nothing(client, api, tenant, admin):
    bad = {"entity_type": "company", "name": "Tier!", "label": "Tier", "field_type": "colour"}
    response = client.post(f"{api}/fields", json=bad)
    with tenant_context(tenant.id):
        with pytest.raises(ValidationError) as domain:  # what the settings page shows for the same input
            definitions.define_field("company", "Tier!", "Tier", "colour", actor_id=admin.id)
        db.session.rollback()
        assert db.session.scalar(select(CustomFieldDefinition.id)) is None
    assert response.get_json()["errors"] == [e.as_dict() for e in domain.value.errors]
    assert ("field_type", "choice") in _errors(response)
    for body, expected in [
        ({"entity_type": "company", "name": 7, "label": "x", "field_type": "string"}, ("name", "type")),
        ({"entity_type": "company", "name": "x", "field_type": "string"}, ("label", "required")),
        ({"entity_type": "company", "name": "x", "label": "x", "field_type": "string", "colour": 1},
         ("colour", "unknown_field")),
        ({"entity_type": "company", "name": "x", "label": "x", "field_type": "string", "position": "1e5"},
         ("position", "type")),
        ({"entity_type": "company", "name": "x", "label": "x", "field_type": "string", "company_id": True},
         ("company_id", "type")),
    ]:
        assert expected in _errors(client.post(f"{api}/fields", json=body)), body
    assert _errors(client.post(f"{api}/fields", data="not json")) == [("body", "json")]
    made = client.post(f"{api}/fields", json={"entity_type": "company", "name": "tier", "label": "Tier",
                                              "field_type": "string"}).get_json()
    assert ("name", "immutable") in _errors(client.patch(f"{api}/fields/{made['id']}", json={"name": "other"}))
    assert ("options", "type") in _errors(client.patch(f"{api}/fields/{made['id']}", json={"options": [1]}))
    assert client.patch(f"{api}/fields/999999", json={"label": "x"}).status_code == 404


def test_validators_are_defined_tried_changed_and_deactivated(client, api, tenant):
    client.post(f"{api}/fields", json={"entity_type": "company", "name": "code", "label": "Code",
                                       "field_type": "string"})
    made = client.post(f"{api}/validators", json={"entity_type": "company", "validator_name": "code_shape",
                                                  "validator_type": "format", "field_name": "code",
                                                  "config": {"kind": "regex", "pattern": "^[A-Z]{3}$"}})
    assert made.status_code == 201, made.get_data(as_text=True)
    validator = made.get_json()
    assert validator["config"] == {"kind": "regex", "pattern": "^[A-Z]{3}$"} and validator["is_active"] is True

    def attempt(value):
        response = client.post(f"{api}/validators/test", json={"entity_type": "company", "field_name": "code",
                                                                "value": value})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    assert attempt("ABC") == {"valid": True, "errors": []}
    refused = attempt("abcd")
    assert refused["valid"] is False and [(e["field"], e["rule"]) for e in refused["errors"]] == [("code", "format")]

    lower = {"kind": "regex", "pattern": "^[a-z]+$"}
    changed = client.patch(f"{api}/validators/{validator['id']}", json={"config": lower})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["config"] == lower
    assert attempt("abcd")["valid"] is True
    assert client.post(f"{api}/validators/{validator['id']}/deactivate").get_json()["is_active"] is False
    assert attempt("ABC")["valid"] is True
    with tenant_context(tenant.id):
        assert db.session.get(BusinessObjectValidator, validator["id"]).is_active is False


def test_refused_validators_and_tests_name_field_and_rule(client, api):
    assert ("validator_name", "format") in _errors(client.post(f"{api}/validators", json={
        "entity_type": "company", "validator_name": "Bad Name", "validator_type": "required", "field_name": "name"}))
    assert ("config", "type") in _errors(client.post(f"{api}/validators", json={
        "entity_type": "company", "validator_name": "x", "validator_type": "format", "config": "^a$"}))
    assert ("is_active", "type") in _errors(client.patch(f"{api}/validators/1", json={"is_active": "yes"}))
    assert client.patch(f"{api}/validators/999999", json={"is_active": False}).status_code == 404
    assert ("field_name", "required") in _errors(client.post(f"{api}/validators/test", json={
        "entity_type": "company", "value": "x"}))
    assert ("entity_type", "choice") in _errors(client.post(f"{api}/validators/test", json={
        "entity_type": "planet", "field_name": "name", "value": "x"}))
    unknown = client.post(f"{api}/validators/test", json={"entity_type": "company", "field_name": "nope",
                                                          "value": "x"}).get_json()
    assert unknown["valid"] is False and unknown["errors"][0]["rule"] == "unknown_field"
    assert ("entity_type", "choice") in _errors(client.get(f"{api}/fields?entity_type=planet"))


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_members_below_admin_read_and_try_but_change_nothing(client, login, make_user, tenant, admin, role):
    with tenant_context(tenant.id):
        field = definitions.define_field("company", "tier", "Tier", "string", actor_id=admin.id)
        validator = definitions.define_validator("company", "tier_required", "required", field_name="tier",
                                                 actor_id=admin.id)
        db.session.commit()
        field_id, validator_id = field.id, validator.id
    login(make_user(), tenant=tenant, role=role)
    api = f"/api/t/{tenant.slug}/settings"
    assert [f["name"] for f in client.get(f"{api}/fields").get_json()["items"]] == ["tier"]
    assert client.get(f"{api}/validators").status_code == 200
    tried = client.post(f"{api}/validators/test", json={"entity_type": "company", "field_name": "tier", "value": ""})
    assert tried.status_code == 200 and tried.get_json()["valid"] is False
    for method, url, body in [
        ("post", f"{api}/fields", {"entity_type": "company", "name": "x", "label": "X", "field_type": "string"}),
        ("patch", f"{api}/fields/{field_id}", {"label": "Changed"}),
        ("post", f"{api}/fields/{field_id}/deactivate", None),
        ("post", f"{api}/validators", {"entity_type": "company", "validator_name": "x", "validator_type": "required",
                                       "field_name": "name"}),
        ("patch", f"{api}/validators/{validator_id}", {"is_active": False}),
        ("post", f"{api}/validators/{validator_id}/deactivate", None),
    ]:
        assert getattr(client, method)(url, json=body).status_code == 403, url
    with tenant_context(tenant.id):
        assert db.session.get(CustomFieldDefinition, field_id).label == "Tier"
        assert db.session.get(BusinessObjectValidator, validator_id).is_active is True
        assert db.session.scalar(select(CustomFieldDefinition.id).where(CustomFieldDefinition.name == "x")) is None


def test_another_tenants_field_is_a_404(client, login, make_tenant, tenant, admin):
    other = make_tenant(members={admin: "admin"})
    with tenant_context(other.id):
        theirs = definitions.define_field("company", "secret", "Secret", "string", actor_id=admin.id)
        db.session.commit()
        theirs_id = theirs.id
    login(admin, tenant=tenant)
    api = f"/api/t/{tenant.slug}/settings"
    assert client.get(f"{api}/fields/{theirs_id}").status_code == 404
    assert client.get(f"{api}/fields").get_json()["items"] == []


def test_cookie_writes_need_the_csrf_token_and_api_tokens_do_not(make_app, make_user, make_tenant):
    app = make_app(WTF_CSRF_ENABLED=True)
    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    body = {"entity_type": "company", "name": "tier", "label": "Tier", "field_type": "string"}
    url = f"/api/t/{tenant.slug}/settings/fields"

    browser = app.test_client()
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").get_data(as_text=True))
    browser.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": form_token.group(1)})
    assert browser.post(url, json=body).status_code == 400
    page = browser.get(f"/t/{tenant.slug}/settings/fields").get_data(as_text=True)
    header_token = re.search(r'name="csrf-token" content="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert browser.post(url, json=body, headers={"X-CSRFToken": header_token.group(1)}).status_code == 201

    _, plain = create_token(user.id, "ci")
    db.session.commit()
    scripted = app.test_client().post(url, json={**body, "name": "tier2"}, headers={"Authorization": f"Bearer {plain}"})
    assert scripted.status_code == 201, scripted.get_data(as_text=True)


def test_the_openapi_document_describes_the_settings_api(client, api):
    paths = client.get(api.replace("/settings", "/openapi.json")).get_json()["paths"]
    settings = {path: sorted(ops) for path, ops in paths.items() if "/settings/" in path}
    assert settings["/settings/fields"] == ["get", "post"]
    assert settings["/settings/fields/{field_id}"] == ["get", "patch"]
    assert settings["/settings/validators/test"] == ["post"]
