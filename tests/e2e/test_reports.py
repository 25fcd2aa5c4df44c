"""In a real browser: the four wizard steps (with a step back), submit, the heatmap fills, the chart draws,
polling stops, the CSV downloads."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.reports.conftest import Workers

pytestmark = pytest.mark.e2e


@pytest.fixture
def backfill_worker(app):
    pool = Workers(app)
    pool.start(1)
    yield pool
    pool.stop()


def test_wizard_to_finished_backfill(page: Page, live_server, sign_in, make_user, make_tenant, backfill_worker):
    user = make_user("analyst@example.com", name="Ana")
    tenant = make_tenant(members={user: "admin"})
    sign_in("analyst@example.com", f"/t/{tenant.slug}/reports/")
    page.wait_for_url(f"**/t/{tenant.slug}/reports/", timeout=30_000)
    page.get_by_role("button", name="New report").click()

    # 1. Parameters: the source's own filters appear when it is chosen.
    page.get_by_label("Report name").fill("Synthetic weeks")
    page.get_by_label("Data source").select_option("synthetic")
    expect(page.get_by_label("Seconds per segment")).to_be_visible()
    page.get_by_label("Seconds per segment").fill("1.5")  # slow enough to see the heatmap part-filled
    page.get_by_label("Fail segments starting on").fill("2026-01-12")
    page.get_by_label("Period").select_option("custom")
    page.get_by_label("Start date").fill("2026-01-05")
    page.get_by_label("End date").fill("2026-02-15")
    page.get_by_label("Parallel limit (1–50)").fill("0")
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.locator("#e-parallel_limit")).to_contain_text("from 1 to 50")  # refused inline
    page.get_by_label("Parallel limit (1–50)").fill("2")
    page.get_by_role("button", name="Next", exact=True).click()

    # 2. Schedule: preview, go back (input kept), come forward again.
    expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
    page.get_by_label("Runs").select_option("weekly")
    page.get_by_label("Wed").check()
    page.get_by_label("Timezone (IANA)").fill("Europe/London")
    page.get_by_role("button", name="Preview next runs").click()
    expect(page.locator(".next-runs li")).to_have_count(5)
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_label("Report name")).to_have_value("Synthetic weeks")
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_label("Runs")).to_have_value("weekly")
    page.get_by_role("button", name="Next", exact=True).click()

    # 3. Review: six weekly segments. 4. Submit.
    expect(page.locator("#segment-total")).to_have_text("6")
    page.get_by_role("button", name="Next", exact=True).click()
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/progress") else None)
    page.get_by_role("button", name="Create report and start backfill").click()

    # The run page fills its heatmap by itself (polling), then shows the chart and table and stops polling.
    expect(page).to_have_url(re.compile(r"/reports/runs/"))
    expect(page.locator(".heatmap .cell")).to_have_count(6)
    page.wait_for_function("""() => document.querySelector("#run-status").textContent === "running"
        && document.querySelectorAll(".heatmap .cell.completed").length > 0""", timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("partial", timeout=60_000)
    seen = len(polls)
    page.wait_for_timeout(5_000)  # more than two polling intervals
    assert seen > 0 and len(polls) == seen
    expect(page.locator(".heatmap .cell.completed")).to_have_count(5)
    expect(page.locator(".heatmap .cell.failed")).to_have_attribute("title", re.compile("synthetic failure"))
    expect(page.locator("#results-chart")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#results-table tbody tr")).to_have_count(6)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[:3] == ["segment_start,segment_end,status,days", "2026-01-05,2026-01-11,completed,7",
                         "2026-01-12,2026-01-18,failed,"]

    page.goto(f"{live_server.url}/t/{tenant.slug}/reports/")
    expect(page.locator("table")).to_contain_text("Synthetic weeks")
    expect(page.locator("table")).to_contain_text("weekly")
