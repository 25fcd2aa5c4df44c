"""In a real browser: the four wizard steps (with a step back), submit, the heatmap fills, the chart draws,
polling stops, the CSV downloads; the partitions view, a range backfilled, failed periods retried, attempts seen."""

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
    page.on("request", lambda request: polls.append(request.url) if "/progress" in request.url else None)
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


def reload_until(page: Page, start: str, status: str, title: str = "", tries: int = 60) -> None:
    """Reload the partitions page until the period starting `start` has `status` (and `title` in its title)."""
    for _ in range(tries):
        cell = page.locator(f'.cell[data-start="{start}"]')
        if cell.get_attribute("data-status") == status and title in (cell.get_attribute("title") or ""):
            return
        page.wait_for_timeout(1_000)
        page.reload()
    raise AssertionError(f"the period {start} never became {status} {title}")


def test_partitions_backfill_a_range_retry_failed_and_see_attempts(page: Page, live_server, sign_in, make_user,
                                                                   make_tenant, backfill_worker):
    from strata.reports import engine, service
    from strata.tenancy.service import tenant_context
    from tests.reports.conftest import report_config

    user = make_user("owner@example.com", name="Olu")
    tenant = make_tenant(members={user: "admin"})
    with tenant_context(tenant.id):
        workflow, collection = service.create_report(report_config(
            name="Weekly partitions", start="2026-01-05", end="2026-01-25", filters={"fail_dates": "2026-01-12"}),
            None)
        engine.launch(collection)
        workflow_id = workflow.id
    sign_in("owner@example.com", f"/t/{tenant.slug}/reports/{workflow_id}")
    page.wait_for_url(f"**/reports/{workflow_id}", timeout=30_000)

    # The partitions view: one cell per week across runs, the weeks no run covered shown as missing.
    page.get_by_role("link", name="Partitions").click()
    page.get_by_label("From", exact=True).fill("2026-01-05")
    page.get_by_label("To", exact=True).fill("2026-02-08")
    page.get_by_role("button", name="Show").click()
    cells = page.locator(".heatmap.partitions .cell")
    expect(cells).to_have_count(5)
    reload_until(page, "2026-01-12", "failed")  # the page is a snapshot: the worker's progress shows on reload
    expect(page.locator('.cell[data-start="2026-02-02"]')).to_have_attribute("data-status", "missing")

    # Backfill a range: a new run of those two weeks, which the worker completes.
    page.get_by_label("Backfill from").fill("2026-01-26")
    page.get_by_label("Backfill to").fill("2026-02-08")
    page.get_by_role("button", name="Backfill this range").click()
    expect(page).to_have_url(re.compile(r"/reports/runs/"))
    expect(page.locator(".heatmap .cell")).to_have_count(2)
    expect(page.locator("#run-status")).to_have_text("completed", timeout=60_000)

    # Retry failed from the partitions view: the failed week runs again in its own run (and fails again).
    page.goto(f"{live_server.url}/t/{tenant.slug}/reports/{workflow_id}/partitions?start_date=2026-01-05"
              "&end_date=2026-02-08")
    expect(page.locator('.cell[data-start="2026-02-02"]')).to_have_attribute("data-status", "completed")
    page.get_by_role("button", name="Retry failed (1)").click()
    expect(page.get_by_text("1 failed period(s) sent back to work.")).to_be_visible()
    reload_until(page, "2026-01-12", "failed", "attempt 2")

    # See the attempts: both kept, each with its worker, times and error.
    page.locator('.cell[data-start="2026-01-12"]').click()
    rows = page.locator("#attempts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("synthetic failure for the segment starting 2026-01-12 (attempt 1)")
    expect(rows.nth(1)).to_contain_text("(attempt 2)")
    expect(page.locator("#segment-status")).to_have_text("failed")
