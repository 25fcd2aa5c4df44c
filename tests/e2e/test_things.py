"""In a real browser: define a class with a required attribute and a bidirectional relationship, create two
things (the required attribute refused inline first), link them, and see the link from both sides."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_class_things_and_a_link_seen_from_both_sides(page: Page, live_server, sign_in, make_user, make_tenant):
    user = make_user("admin@example.com", name="Ada")
    make_tenant("acme", "Acme Ltd", members={user: "admin"})
    sign_in("admin@example.com")
    base = f"{live_server.url}/t/acme/things"

    # The attribute and the relationship type the class will use.
    page.goto(f"{base}/attributes")
    page.locator("#f-name").fill("email")
    page.locator("#f-data_type").select_option("string")
    page.locator("#f-constraints").fill('{"pattern": ".+@.+"}')
    page.get_by_role("button", name="Create attribute").click()
    expect(page.locator("#attributes table")).to_contain_text("email")
    page.goto(f"{base}/relationship-types")
    page.locator("#f-name").fill("mentors")
    page.locator("#f-inverse_name").fill("mentored by")
    page.get_by_role("button", name="Create relationship type").click()
    expect(page.locator("#relationship-types table")).to_contain_text("mentored by")

    # The class: created from the list, then edited.
    page.goto(f"{base}/")
    page.locator("#new-class #f-name").fill("Person")
    page.get_by_role("button", name="Create class").click()
    expect(page).to_have_url(re.compile(r"/things/classes/\d+/edit$"))
    page.locator("#assignments #f-attribute_id").select_option(label="Email (string)")
    page.locator("#assignments #f-is_required").check()
    page.get_by_role("button", name="Assign attribute").click()
    expect(page.locator("#assignments table")).to_contain_text("Email")
    expect(page.get_by_label("Email required")).to_be_checked()
    page.locator("#relationships #f-cardinality").select_option("one_to_many")
    page.locator("#relationships #f-is_bidirectional").check()
    page.get_by_role("button", name="Add relationship").click()
    expect(page.locator("#relationships table")).to_contain_text("Person mentors Person")
    expect(page.locator("#relationships table")).to_contain_text("mentored by")

    # Two things; the first attempt misses the required email and is refused inline.
    page.goto(f"{base}/")
    page.get_by_role("link", name="Person").first.click()
    page.get_by_role("button", name="New Person").click()
    page.get_by_label("Name").fill("Grace")
    page.get_by_role("button", name="Create Person").click()
    expect(page.locator("#thing-form")).to_contain_text("Email is required.")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Create Person").click()
    expect(page.locator("#thing-form")).to_contain_text("Email must match the pattern")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_role("button", name="Create Person").click()
    expect(page.get_by_role("heading", name="Grace")).to_be_visible()
    grace_url = page.url
    page.get_by_role("link", name="Person").click()
    page.get_by_role("button", name="New Person").click()
    page.get_by_label("Name").fill("Alan")
    page.get_by_label("Email").fill("alan@example.com")
    page.get_by_role("button", name="Create Person").click()
    expect(page.get_by_role("heading", name="Alan")).to_be_visible()
    alan_url = page.url

    # Grace mentors Alan; Alan's page shows it under the inverse name.
    page.goto(grace_url)
    page.locator("#f-to_thing").fill("Alan")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#links table")).to_contain_text("mentors")
    expect(page.locator("#links table")).to_contain_text("Alan")
    page.goto(alan_url)
    row = page.locator("#links tr.related-row")
    expect(row).to_contain_text("mentored by")
    expect(row).to_contain_text("Grace")
    page.get_by_role("link", name="Grace").click()
    expect(page).to_have_url(grace_url)


def test_graphiql_runs_a_query(page: Page, live_server, sign_in, make_user, make_tenant):
    user = make_user("admin@example.com")
    make_tenant("acme", "Acme Ltd", members={user: "admin"})
    sign_in("admin@example.com")
    page.goto(f"{live_server.url}/t/acme/things/graphiql")
    expect(page.locator(".graphiql-container")).to_be_visible()
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".result-window")).to_contain_text('"classes"')
