"""In a real browser at a desktop and a phone size: axe-core (vendored under static/vendor/axe-core) finds no
serious or critical violation on the main pages, and no page scrolls sideways on a phone.

With SCREENSHOTS=<directory> set (`make screenshots`), each page visited is also saved there as
`<size>-<page>.png`, so the look can be reviewed without starting the product."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

from strata.business_objects import service
from strata.db import db
from strata.tenancy.service import tenant_context

pytestmark = pytest.mark.e2e

AXE = "/static/vendor/axe-core/axe.min.js"  # loaded from the app itself, as its Content-Security-Policy allows
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
PAGES = {
    "dashboard": "/t/acme/",
    "companies": "/t/acme/companies/",
    "company": None,  # filled in once the company exists
    "partners": "/t/acme/partners/",
    "partner form": "/t/acme/partners/new",
    "products": "/t/acme/products/",
    "things": "/t/acme/things/",
    "streams": "/t/acme/streams/",
    "reports": "/t/acme/reports/",
    "report wizard": "/t/acme/reports/new/",
    "extensions": "/t/acme/extensions/",
    "fields": "/t/acme/settings/fields",
    "validators": "/t/acme/settings/validators",
    "members": "/t/acme/members",
    "account": "/account",
    "api tokens": "/account/tokens",
}

# The innermost elements reaching past the window's right edge (what makes a page scroll sideways).
WIDEST = """() => Array.from(document.querySelectorAll("body *"))
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
        && !Array.from(e.children).some((c) => c.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 5)
    .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""))"""


def violations(page: Page, base: str) -> list[str]:
    page.add_script_tag(url=base + AXE)
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.impact} ${v.id}: ${v.help} -- `
                + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
    }""")


@pytest.fixture
def acme(live_server, sign_in, make_user, make_tenant):
    user = make_user("owner@example.com", name="Olive")
    tenant = make_tenant("acme", "Acme Ltd", members={user: "admin"})
    with tenant_context(tenant.id):
        company = service.create("company", {"name": "Initech", "company_number": "01234567"}, actor_id=user.id)
        service.create("company", {"name": "Globex"}, actor_id=user.id)
        service.create("partner", {"company_id": company.id, "name": "Peter"}, actor_id=user.id)
        service.create("product", {"name": "Stapler"}, actor_id=user.id)
        db.session.commit()
        company_id = company.id
    sign_in("owner@example.com")
    return {**PAGES, "company": f"/t/acme/companies/{company_id}"}


@pytest.mark.parametrize("size", SIZES)
def test_main_pages_have_no_serious_violations_and_fit_a_phone(page: Page, live_server, acme, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    problems = []
    shots = Path(os.environ["SCREENSHOTS"]) if os.environ.get("SCREENSHOTS") else None
    for name, path in acme.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, (name, path, response.status)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=shots / f"{size}-{name.replace(' ', '-')}.png", full_page=True)
        problems += [f"{name} ({path}): {v}" for v in violations(page, live_server.url)]
        if size == "phone":
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                wide = page.evaluate(WIDEST)
                problems.append(f"{name} ({path}): scrolls sideways ({scroll} px wide in a {inner} px window): {wide}")
    assert not problems, "\n".join(problems)
