"""In a real browser: paste a manifest, preview, apply, create a row in the generated form, then roll back."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.extensions.conftest import CRM

pytestmark = pytest.mark.e2e


def test_install_preview_apply_create_row_and_roll_back(page: Page, live_server, sign_in, app, make_user,
                                                        make_tenant, run_jobs):
    user = make_user("admin@example.com", name="Ada")
    make_tenant("acme", "Acme Ltd", members={user: "admin"})
    sign_in("admin@example.com")

    page.goto(f"{live_server.url}/t/acme/extensions/")
    broken = {**CRM, "version": "1.0"}
    page.get_by_label("Manifest (JSON or YAML)").fill(json.dumps(broken))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#manifest-errors")).to_contain_text("version must be a semantic version")

    page.get_by_label("Manifest (JSON or YAML)").fill(json.dumps(CRM, indent=2))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("nothing installed → 1.0.0")
    expect(page.locator("#steps")).to_contain_text("Create table plugin_crm_deal")
    page.get_by_text("SQL", exact=True).click()
    expect(page.locator("#migration-sql")).to_contain_text('CREATE TABLE "plugin_crm_deal"')

    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#progress")).to_contain_text("Applying")
    assert run_jobs("default")
    expect(page.locator("#progress")).to_contain_text("Applied", timeout=10_000)

    page.get_by_role("link", name="Open the extension").click()
    expect(page.locator("#schema-status")).to_have_text("active")
    page.locator("#tables").get_by_role("link", name="deal").click()
    page.get_by_text("New deal").click()
    page.get_by_label("title").fill("x")
    page.get_by_label("probability").fill("140")
    page.get_by_role("button", name="Create deal").click()
    expect(page.locator("#e-probability")).to_contain_text("probability must be at most 100")
    expect(page.locator("#e-title")).to_contain_text("at least 2 characters")
    page.get_by_label("title").fill("Initech renewal")
    page.get_by_label("probability").fill("60")
    page.get_by_label("stage").select_option("won")
    page.get_by_role("button", name="Create deal").click()
    expect(page.locator(".flash-success")).to_contain_text("Created deal row")
    expect(page.get_by_label("title")).to_have_value("Initech renewal")

    page.get_by_role("link", name="deal", exact=True).click()
    expect(page.locator("#data-table")).to_contain_text("Initech renewal")
    page.get_by_label("Filter column").select_option("stage")
    page.get_by_label("Filter operator").select_option("eq")
    page.get_by_label("Filter value").fill("lost")
    page.get_by_role("button", name="Add filter").click()
    expect(page).to_have_url(re.compile(r"stage=eq.lost"))
    expect(page.locator("#data-table")).to_contain_text("No rows match these filters.")

    page.goto(f"{live_server.url}/t/acme/extensions/acme-crm/")
    page.get_by_role("button", name="Roll back…").click()
    expect(page.locator(".rollback-losses")).to_contain_text("the table plugin_crm_deal with its 1 row")
    expect(page.get_by_role("link", name="Export the data (JSON)")).to_be_visible()
    page.get_by_role("button", name="Roll back", exact=True).click()  # without the checkbox: refused inline
    expect(page.locator(".rollback-confirm .error")).to_contain_text("allow_destructive")
    page.get_by_label("Drop it").check()
    page.get_by_role("button", name="Roll back", exact=True).click()
    expect(page.locator("#schema-status")).to_have_text("pending")  # the page shows it without a reload
    expect(page.locator("#history .migration-status").first).to_contain_text("rolled_back")
    expect(page.get_by_text("Nothing is installed yet.")).to_be_visible()
    expect(page.locator("#backups")).to_contain_text("plugin_crm_deal")
