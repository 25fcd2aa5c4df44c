"""In a real browser: a loading bar and disabled submit buttons while an htmx request is in flight, success
messages that go away, and an expired session that leads to the sign-in page and back to the same page."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.e2e

# What the page looked like as each htmx request left: the loading class and the form's submit buttons.
RECORD = """() => {
  window.seen = [];
  document.addEventListener("htmx:beforeSend", (e) => window.seen.push({
    busy: document.documentElement.classList.contains("htmx-busy"),
    disabled: Array.from(e.detail.elt.querySelectorAll("button[type=submit]")).map((b) => b.disabled),
  }));
}"""


def test_busy_bar_disabled_button_and_fading_flash(page: Page, live_server, sign_in, make_user, make_tenant):
    admin = make_user("boss@example.com")
    make_tenant("acme", "Acme Ltd", members={admin: "admin"})
    sign_in("boss@example.com")
    page.goto(f"{live_server.url}/t/acme/members")
    page.evaluate(RECORD)

    form = page.locator("#members form").last
    page.locator("#members").get_by_label("Email").fill("newcomer@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#members")).to_contain_text("newcomer@example.com")

    seen = page.evaluate("window.seen")
    assert seen == [{"busy": True, "disabled": [True]}]
    expect(page.locator("html")).not_to_have_class(re.compile("htmx-busy"))
    expect(form.get_by_role("button", name="Send invitation")).to_be_enabled()

    success = page.locator("#flash .flash-success")
    expect(success).to_have_count(1)
    expect(success).to_be_hidden(timeout=8000)


def test_expired_session_during_htmx_goes_to_sign_in_and_back(page: Page, live_server, sign_in, make_user,
                                                              make_tenant):
    admin = make_user("boss@example.com")
    make_tenant("acme", "Acme Ltd", members={admin: "admin"})
    sign_in("boss@example.com")
    page.goto(f"{live_server.url}/t/acme/members")
    page.wait_for_load_state("networkidle")  # nothing of the signed-in page still in flight

    page.context.clear_cookies()
    expect(page.get_by_role("button", name="Send invitation")).to_be_enabled()
    page.locator("#members").get_by_label("Email").fill("newcomer@example.com")
    page.get_by_role("button", name="Send invitation").click()

    expect(page).to_have_url(re.compile(r"/login\?next=/t/acme/members$"))
    expect(page.locator("#members")).to_have_count(0)
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/t/acme/members")
