"""In a real browser: sign in, switch tenant, see each tenant's dashboard; htmx calls carry the CSRF token."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e


def test_login_switch_tenant_and_see_dashboard(page: Page, live_server, sign_in, app, make_user, make_tenant):
    user = make_user("walker@example.com", name="Walker")
    make_tenant("acme", "Acme Ltd", members={user: "admin"})
    make_tenant("globex", "Globex Corp", members={user: "viewer"})
    make_tenant("hidden", "Hidden Inc")

    page.goto(f"{live_server.url}/t/acme/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill("walker@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/t/acme/")
    expect(page.get_by_role("heading", name="Acme Ltd")).to_be_visible()
    expect(page.get_by_text("Nothing has happened here yet")).to_be_visible()

    page.locator(".tenant-switcher summary").click()
    expect(page.locator(".tenant-switcher")).not_to_contain_text("Hidden Inc")
    page.locator(".tenant-switcher").get_by_role("link", name=re.compile("Globex Corp")).click()
    expect(page).to_have_url(f"{live_server.url}/t/globex/")
    expect(page.get_by_role("heading", name="Globex Corp")).to_be_visible()
    expect(page.get_by_text("you are viewer")).to_be_visible()

    # Another tenant's URL typed by hand is simply not there.
    response = page.goto(f"{live_server.url}/t/hidden/")
    assert response.status == 404


def test_htmx_member_change_sends_csrf_token(page: Page, live_server, sign_in, app, make_user, make_tenant):
    admin = make_user("boss@example.com")
    colleague = make_user("colleague@example.com")
    make_tenant("acme", "Acme Ltd", members={admin: "admin", colleague: "viewer"})

    sign_in("boss@example.com")
    page.get_by_role("link", name="Members", exact=True).click()

    page.get_by_label("Role of colleague@example.com").select_option("editor")
    expect(page.locator("#flash")).to_contain_text("Role changed.")
    page.reload()
    expect(page.get_by_label("Role of colleague@example.com")).to_have_value("editor")

    page.get_by_label("Role of boss@example.com").select_option("viewer")
    expect(page.locator("#members")).to_contain_text("The last admin cannot be demoted")
