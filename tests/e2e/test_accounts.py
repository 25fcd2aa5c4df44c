"""In a real browser, with mail through a real local SMTP server: sign up, verify the address from the mail,
accept an invitation, turn on two-factor, sign in with a code, sign out everywhere."""

import re
import time

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import TEST_PASSWORD, LiveServer
from tests.mailserver import MailServer

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "amber lantern quietly"


@pytest.fixture
def mailbox():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def site(make_app, app, mailbox):
    """The app with CSRF on and its mail going to the local SMTP server, served on a free port."""
    served = make_app(WTF_CSRF_ENABLED=True, TESTING=False, MAIL_URL=mailbox.url)
    with LiveServer(served) as server:
        yield server


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_verify_accept_enable_two_factor_and_sign_out_everywhere(
        page: Page, browser: Browser, site, mailbox, make_user, make_tenant):
    admin = make_user("boss@example.com")
    make_tenant("acme", "Acme Ltd", members={admin: "admin"})

    # An admin invites a newcomer from the members page.
    _sign_in(page, site.url, admin.email, TEST_PASSWORD)
    page.goto(f"{site.url}/t/acme/members")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.locator("#f-role").select_option("editor")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invitations")).to_contain_text("newcomer@example.com")
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Sign out", exact=True).click()
    invitation = mailbox.link("newcomer@example.com", "/invitations/")

    # The newcomer signs up; the strength meter judges the password while it is typed.
    page.goto(f"{site.url}/signup")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Name").fill("Nina Newcomer")
    page.get_by_label("Password").press_sequentially("password1234")
    expect(page.locator("#strength")).to_contain_text("too easy to guess")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_label("Password").press("End")
    page.get_by_label("Password").press_sequentially("!")
    expect(page.locator("#strength")).to_contain_text("very strong")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    # Until the address is verified, signing in leads only to the verification page.
    _sign_in(page, site.url, "newcomer@example.com", NEW_PASSWORD + "!")
    expect(page).to_have_url(f"{site.url}/verify")
    page.goto(mailbox.link("newcomer@example.com", "/verify/"))
    expect(page.locator("#flash")).to_contain_text("Your email address is verified.")

    page.goto(invitation)
    expect(page.get_by_role("heading", name="Join Acme Ltd")).to_be_visible()
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page).to_have_url(f"{site.url}/t/acme/")
    expect(page.locator("#flash")).to_contain_text("Welcome to Acme Ltd: you are editor there.")

    # Two-factor on, with a code from an "authenticator app".
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text())
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    recovery = page.locator("#recovery-codes li").first.inner_text()
    page.get_by_role("button", name="Done").click()
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Sign out", exact=True).click()

    # Signing in now takes the password and then a code (the next one: each code works once).
    _sign_in(page, site.url, "newcomer@example.com", NEW_PASSWORD + "!")
    expect(page).to_have_url(f"{site.url}/login/two-factor")
    page.get_by_label("Code").fill(totp.at(time.time() + totp.interval))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{site.url}/t/acme/")

    # A second browser signs in too (with a recovery code) …
    other = browser.new_context().new_page()
    _sign_in(other, site.url, "newcomer@example.com", NEW_PASSWORD + "!")
    other.get_by_label("Code").fill(recovery)
    other.get_by_role("button", name="Verify").click()
    expect(other).to_have_url(f"{site.url}/t/acme/")

    # … and "sign out everywhere" from the first ends both.
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    other.goto(f"{site.url}/t/acme/")
    expect(other).to_have_url(re.compile(r"/login\?next="))
    other.context.close()
