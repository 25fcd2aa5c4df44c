"""Settings pages for custom fields and validators: lists, forms, 422s, permissions, the value tester."""

import pytest
from sqlalchemy import func, select

from strata.audit import AuditLog
from strata.business_objects import definitions
from strata.business_objects.models import BusinessObjectValidator, CustomFieldDefinition
from strata.db import db
from strata.tenancy.service import tenant_context

HTMX = {"HX-Request": "true"}


@pytest.fixture
def as_admin(login, admin, tenant):
    return login(admin, tenant=tenant)


def count(tenant, model, *where):
    with tenant_context(tenant.id):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def url(tenant, path=""):
    return f"/t/{tenant.slug}/settings{path}"


FIELD = {"entity_type": "product", "company_id": "", "name": "colour", "label": "Colour", "field_type": "select",
         "help_text": "Main colour", "default": "red", "options": "red\nblue\n", "position": "2"}


def test_lists_render_with_empty_states(client, as_admin, tenant):
    page = client.get(url(tenant, "/fields"))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "No custom fields on products yet" in body and 'id="field-form"' in body
    page = client.get(url(tenant, "/validators"))
    assert page.status_code == 200
    assert "No validators yet" in page.get_data(as_text=True)
    assert "Config reference" in page.get_data(as_text=True)


def test_admin_defines_a_field_with_a_required_validator(client, as_admin, tenant, admin):
    response = client.post(url(tenant, "/fields"), data={**FIELD, "required": "1"}, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="fields"' in body and "<code>colour</code>" in body and "required" in body
    with tenant_context(tenant.id):
        field = db.session.scalars(select(CustomFieldDefinition)).one()
        assert (field.field_type, field.options, field.default_value, field.position) == (
            "select", ["red", "blue"], "red", 2)
        audit = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "custom_field")).one()
        assert (audit.action, audit.user_id, audit.entity_id) == ("create", admin.id, str(field.id))
        validator = db.session.scalars(select(BusinessObjectValidator)).one()
        assert (validator.validator_type, validator.field_name) == ("required", "colour")
    assert "<code>colour</code>" in client.get(url(tenant, "/fields")).get_data(as_text=True)


def test_plain_form_post_redirects_back_to_the_list(client, as_admin, tenant):
    response = client.post(url(tenant, "/fields"), data=FIELD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/fields")


@pytest.mark.parametrize("changes, message", [
    ({"name": "Colour"}, "Name must start with a lowercase letter"),
    ({"name": "price"}, "is a built-in column"),
    ({"options": ""}, "Give a list of 1 to 500 non-empty options."),
    ({"default": "green"}, "Default: Colour must be one of red, blue"),
    ({"position": "first"}, "Order must be a whole number"),
    ({"entity_type": "spaceship"}, "Entity type must be one of"),
])
def test_bad_field_input_is_422_with_the_message_and_creates_nothing(client, as_admin, tenant, changes, message):
    response = client.post(url(tenant, "/fields"), data={**FIELD, **changes, "required": "1"}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#field-form"
    body = response.get_data(as_text=True)
    assert message in body and 'id="field-form"' in body
    assert count(tenant, CustomFieldDefinition) == 0
    assert count(tenant, BusinessObjectValidator) == 0
    assert count(tenant, AuditLog) == 0


def test_field_errors_are_shown_next_to_their_input(client, as_admin, tenant):
    response = client.post(url(tenant, "/fields"), data={**FIELD, "label": " "})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert '<small id="e-label" class="error">Label is required' in body
    assert "<h1>Custom fields</h1>" in body  # without htmx: the whole page, with the form's errors


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_non_admins_see_the_lists_but_cannot_change_anything(client, login, tenant, role, bo, admin):
    with tenant_context(tenant.id):
        field = bo.field("product", "colour", "string")
        validator = bo.validator("product", "colour_required", "required", field_name="colour")
        field_id, validator_id = field.id, validator.id
    login(tenant=tenant, role=role)
    page = client.get(url(tenant, "/fields")).get_data(as_text=True)
    assert "<code>colour</code>" in page and 'id="field-form"' not in page and "Deactivate" not in page
    assert client.post(url(tenant, "/fields"), data={**FIELD, "name": "size"}).status_code == 403
    assert client.post(url(tenant, f"/fields/{field_id}"), data={"label": "X"}).status_code == 403
    assert client.post(url(tenant, f"/fields/{field_id}/deactivate")).status_code == 403
    assert client.post(url(tenant, "/validators"), data={"entity_type": "product", "validator_name": "x",
                                                        "validator_type": "required"}).status_code == 403
    assert client.post(url(tenant, f"/validators/{validator_id}/deactivate")).status_code == 403
    assert count(tenant, CustomFieldDefinition) == 1
    assert count(tenant, CustomFieldDefinition, CustomFieldDefinition.is_active) == 1
    assert count(tenant, BusinessObjectValidator, BusinessObjectValidator.is_active) == 1


def test_click_to_edit_a_field_row(client, as_admin, tenant, bo):
    with tenant_context(tenant.id):
        field_id = bo.field("product", "colour", "select", options=["red"]).id
    edit = client.get(url(tenant, f"/fields/{field_id}/edit"), headers=HTMX)
    assert edit.status_code == 200 and f'form="edit-field-{field_id}"' in edit.get_data(as_text=True)
    refused = client.post(url(tenant, f"/fields/{field_id}"), headers=HTMX,
                          data={"label": "", "options": "red", "position": "0", "default": ""})
    assert refused.status_code == 422 and "Label is required" in refused.get_data(as_text=True)
    saved = client.post(url(tenant, f"/fields/{field_id}"), headers=HTMX,
                        data={"label": "Shade", "options": "red\nblue", "position": "4", "default": "blue"})
    assert saved.status_code == 200
    row = saved.get_data(as_text=True)
    assert f'<tr id="field-{field_id}"' in row and "<section" not in row
    assert "Shade" in row and "red, blue" in row
    with tenant_context(tenant.id):
        field = definitions.get_field(field_id)
        assert (field.label, field.options, field.default_value, field.position) == ("Shade", ["red", "blue"],
                                                                                    "blue", 4)
    cancel = client.get(url(tenant, f"/fields/{field_id}"), headers=HTMX)
    assert cancel.status_code == 200 and "Shade" in cancel.get_data(as_text=True)


def test_deactivate_field_and_validator(client, as_admin, tenant, bo):
    with tenant_context(tenant.id):
        field_id = bo.field("product", "colour", "string").id
        validator_id = bo.validator("product", "colour_required", "required", field_name="colour").id
    response = client.post(url(tenant, f"/fields/{field_id}/deactivate"), headers=HTMX)
    assert response.status_code == 200 and "inactive" in response.get_data(as_text=True)
    response = client.post(url(tenant, f"/validators/{validator_id}/deactivate"), headers=HTMX)
    assert response.status_code == 200
    with tenant_context(tenant.id):
        assert not definitions.get_field(field_id).is_active
        assert not db.session.get(BusinessObjectValidator, validator_id).is_active
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action == "update")).all()
        assert len(actions) == 2


VALIDATOR = {"entity_type": "product", "company_id": "", "validator_name": "price_range",
             "validator_type": "range", "field_name": "price", "config": '{"kind": "number", "min": 1}'}


def test_admin_defines_a_validator(client, as_admin, tenant):
    response = client.post(url(tenant, "/validators"), data=VALIDATOR, headers=HTMX)
    assert response.status_code == 200
    assert "<code>price_range</code>" in response.get_data(as_text=True)
    assert count(tenant, BusinessObjectValidator) == 1
    assert count(tenant, AuditLog, AuditLog.entity_type == "validator") == 1


@pytest.mark.parametrize("changes, message", [
    ({"config": '{"kind": "number", "min": 1'}, "Config must be valid JSON: Expecting"),
    ({"config": "[1, 2]"}, "Config must be a JSON object"),
    ({"config": '{"kind": "colour"}'}, "Config is invalid"),
    ({"config": '{"kind": "date", "min": "2024-01-01"}'}, "A date range does not apply to a decimal field."),
    ({"validator_name": "Price Range"}, "Name must start with a lowercase letter"),
    ({"field_name": "nope"}, "Choose a field of this entity"),
    ({"validator_type": "magic"}, "Type must be one of"),
    ({"company_id": "abc"}, "Choose a company from the list."),
])
def test_bad_validator_input_is_422_and_creates_nothing(client, as_admin, tenant, changes, message):
    response = client.post(url(tenant, "/validators"), data={**VALIDATOR, **changes}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#validator-form"
    assert message in response.get_data(as_text=True)
    assert count(tenant, BusinessObjectValidator) == 0


def test_the_validator_form_lists_the_chosen_entitys_fields(client, as_admin, tenant, bo):
    with tenant_context(tenant.id):
        bo.field("partner", "region", "string")
    form = client.get(url(tenant, "/validators/form"), query_string={"entity_type": "partner"}, headers=HTMX)
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and 'value="region"' in body and 'value="sku"' not in body


def test_test_this_value_lists_errors_or_accepts(client, login, tenant, bo):
    with tenant_context(tenant.id):
        bo.field("product", "rating", "integer")
        bo.validator("product", "rating_range", "range", field_name="rating", config={"kind": "number", "max": 5})
    login(tenant=tenant, role="viewer")  # trying a value changes nothing, so every member may

    def test(value, field="rating"):
        response = client.post(url(tenant, "/validators/test"), headers=HTMX,
                               data={"entity_type": "product", "field_name": field, "value": value})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "Rating must be at most 5 (rule &#39;rating_range&#39;)." in test("9")
    assert "Rating must be a whole number (got &#39;abc&#39;)." in test("abc")
    assert "Accepted" in test("3")
    assert "is not a field of a product" in test("3", field="nope")
    box = client.get(url(tenant, "/validators/test"), query_string={"entity_type": "product"}, headers=HTMX)
    assert 'value="rating"' in box.get_data(as_text=True)


def test_another_tenants_ids_are_404(client, as_admin, tenant, make_tenant, bo):
    other = make_tenant()
    with tenant_context(other.id):
        field_id = bo.field("product", "colour", "string").id
        validator_id = bo.validator("product", "colour_required", "required", field_name="colour").id
    assert client.get(url(tenant, f"/fields/{field_id}/edit"), headers=HTMX).status_code == 404
    assert client.post(url(tenant, f"/fields/{field_id}"), data={"label": "X"}).status_code == 404
    assert client.post(url(tenant, f"/fields/{field_id}/deactivate")).status_code == 404
    assert client.post(url(tenant, f"/validators/{validator_id}/deactivate")).status_code == 404
    assert client.get(url(other, "/fields")).status_code == 404  # not a member there
    with tenant_context(other.id):
        assert definitions.get_field(field_id).is_active
