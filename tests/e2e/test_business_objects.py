"""In a real browser: a partner form refuses a value over its range rule inline, saves the fix, lists and filters it."""

import re

import pytest
from playwright.sync_api import Page, expect

from strata.business_objects import definitions, service
from strata.db import db
from strata.tenancy.service import tenant_context

pytestmark = pytest.mark.e2e


def test_partner_form_range_error_fix_list_and_filter(page: Page, live_server, sign_in, app, make_user, make_tenant):
    user = make_user("editor@example.com", name="Eddie")
    tenant = make_tenant("acme", "Acme Ltd", members={user: "admin"})
    with tenant_context(tenant.id):
        service.create("company", {"name": "Initech"}, actor_id=user.id)
        service.create("company", {"name": "Globex"}, actor_id=user.id)
        db.session.commit()

    sign_in("editor@example.com")

    # The admin defines the integer field and its range rule on the settings pages.
    page.goto(f"{live_server.url}/t/acme/settings/fields")
    form = page.locator("form", has=page.get_by_role("button", name="Define field"))
    form.locator("#f-entity_type").select_option("partner")
    form.locator("#f-field_type").select_option("integer")
    form.locator("#f-name").fill("employees")
    form.locator("#f-label").fill("Employees")
    form.get_by_role("button", name="Define field").click()
    expect(page.locator("#fields")).to_contain_text("Employees")
    page.goto(f"{live_server.url}/t/acme/settings/validators")
    form = page.locator("#validator-form")
    form.locator("#f-entity_type").select_option("partner")
    expect(page.locator("#validator-form #f-field_name")).to_contain_text("Employees")
    form = page.locator("#validator-form")  # re-rendered for partners
    form.locator("#f-field_name").select_option("employees")
    form.locator("#f-validator_name").fill("employees_max")
    form.locator("#f-validator_type").select_option("range")
    form.locator("#f-config").fill('{"kind": "number", "max": 500}')
    form.get_by_role("button", name="Define validator").click()
    expect(page.locator("#validators")).to_contain_text("employees_max")

    page.goto(f"{live_server.url}/t/acme/partners/new")
    picker = page.get_by_role("combobox", name="Company")
    picker.fill("Init")  # the server sends matching companies as one types
    page.get_by_role("option", name="Initech").click()  # the form re-renders with Initech's fields
    expect(page.get_by_role("combobox", name="Company")).to_have_value("Initech")
    expect(page.locator("#object-form")).not_to_have_attribute("data-company-id", "")
    page.get_by_label("Name").fill("Peter Gibbons")
    page.get_by_label("Employees").fill("900")
    page.get_by_role("button", name="Create partner").click()
    expect(page.locator("#e-employees")).to_have_text(re.compile("Employees must be at most 500"))
    expect(page).to_have_url(f"{live_server.url}/t/acme/partners/new")

    page.get_by_label("Employees").fill("42")
    page.get_by_role("button", name="Create partner").click()
    expect(page).to_have_url(re.compile(r"/t/acme/partners/\d+$"))
    expect(page.get_by_role("heading", name="Peter Gibbons")).to_be_visible()
    expect(page.locator("#value-employees")).to_have_text("42")

    page.locator("#value-employees").click()  # click-to-edit: 422 inline, then saved and in the history
    page.locator("#value-employees input[name=employees]").fill("501")
    page.locator("#value-employees").get_by_role("button", name="Save").click()
    expect(page.locator("#e-employees")).to_have_text(re.compile("Employees must be at most 500"))
    page.locator("#value-employees input[name=employees]").fill("43")
    page.locator("#value-employees").get_by_role("button", name="Save").click()
    expect(page.locator("div#value-employees")).to_have_text("43")
    expect(page.locator("#history")).to_contain_text("42 → 43")

    page.get_by_role("link", name="All partners").click()
    expect(page.locator("#objects-table")).to_contain_text("Peter Gibbons")
    expect(page.locator("#objects-table")).to_contain_text("43")

    page.get_by_label("Filter field").select_option("employees")
    page.get_by_label("Filter operator").select_option("gte")
    page.get_by_label("Filter value").fill("40")
    page.get_by_role("button", name="Add filter").click()
    expect(page).to_have_url(re.compile(r"employees=gte\.40"))
    expect(page.locator("#objects-table")).to_contain_text("Peter Gibbons")

    page.goto(f"{live_server.url}/t/acme/partners/?employees=gt:43")
    expect(page.get_by_text("No partners match these filters.")).to_be_visible()


def test_bulk_set_from_the_list(page: Page, live_server, sign_in, app, make_user, make_tenant):
    user = make_user("editor@example.com", name="Eddie")
    tenant = make_tenant("acme", "Acme Ltd", members={user: "editor"})
    with tenant_context(tenant.id):
        definitions.define_field("product", "weight", "Weight", "integer", actor_id=user.id)
        service.create("product", {"name": "Anvil"}, {"weight": 1}, actor_id=user.id)
        service.create("product", {"name": "Bucket"}, {"weight": 1}, actor_id=user.id)
        db.session.commit()

    sign_in("editor@example.com")
    page.goto(f"{live_server.url}/t/acme/products/?sort=name")

    page.get_by_label("Select Bucket").check()
    page.get_by_label("Value to set").fill("12")
    page.get_by_role("button", name="Set on selected").click()
    expect(page.locator("#flash")).to_contain_text("Set weight on 1 product.")
    rows = page.locator("#objects-table tbody tr")
    expect(rows.nth(1)).to_contain_text("12")
    expect(rows.nth(0)).not_to_contain_text("12")

    page.get_by_label("Select all on this page").check()
    page.get_by_label("Value to set").fill("heavy")
    page.get_by_role("button", name="Set on selected").click()
    expect(page.locator("#bulk-result")).to_contain_text("Nothing was changed")
