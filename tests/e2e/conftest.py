"""Browser-test helpers."""

import pytest
from playwright.sync_api import Page

from tests.conftest import TEST_PASSWORD


@pytest.fixture
def sign_in(page: Page, live_server):
    """Sign in through the real login form (from `path`, or the login page itself)."""

    def submit(email: str, path: str = "/login") -> None:
        page.goto(f"{live_server.url}{path}")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()

    return submit
