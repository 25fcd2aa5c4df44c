"""Page defects fixed: NUL in the wizard, one lookback error, Submit after a 422, windows with today, schedules
in their own timezone with the last run shown, hourly/cron/several-times schedules, and light progress polls."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from strata.db import db
from strata.reports import engine, service
from strata.reports.models import Workflow
from strata.tenancy.service import tenant_context
from tests.reports.conftest import report_config
from tests.reports.test_wizard_pages import PARAMS, SCHEDULE, _htmx


@pytest.fixture
def wizard(client, login, member):
    tenant, user = member
    login(user)
    return tenant, user, f"/t/{tenant.slug}/reports/new"


def _workflows(tenant):
    with tenant_context(tenant.id):
        return db.session.scalar(select(func.count()).select_from(Workflow))


def test_a_nul_in_the_name_is_refused_inside_the_wizard(wizard, client):
    tenant, user, base = wizard
    response = _htmx(client, base + "/parameters", {**PARAMS, "name": "Bad\x00name"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<h2>Parameters</h2>" in body and 'id="e-name"' in body and "NUL" in body and 'id="wizard"' in body
    assert 'value="Badname"' in body  # the rest of what was typed is kept


def test_an_unknown_lookback_is_reported_once(wizard, client):
    tenant, user, base = wizard
    body = _htmx(client, base + "/parameters", {**PARAMS, "lookback": "forever"}).get_data(as_text=True)
    assert body.count("Choose a lookback") == 1


def test_submit_after_a_refused_earlier_step_does_not_use_the_old_configuration(wizard, client):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    _htmx(client, base + "/schedule", SCHEDULE)
    _htmx(client, base + "/review", {})
    assert _htmx(client, base + "/parameters", {**PARAMS, "parallel_limit": "0"}).status_code == 422
    refused = _htmx(client, base + "/submit", {"direction": "submit"})
    assert refused.status_code == 422 and "Complete the earlier steps first" in refused.get_data(as_text=True)
    assert _workflows(tenant) == 0


def test_the_default_window_includes_today_so_far(wizard, client):
    tenant, user, base = wizard
    page = client.get(base + "/").get_data(as_text=True)
    assert re.search(r'name="include_today" value="on"\s+checked', page)
    defaults = {"name": "Demo", "data_source": "companies", "metric": "both", "lookback": "7d",
                "include_today": "on", "segment_type": "daily", "parallel_limit": "2"}
    _htmx(client, base + "/parameters", defaults)
    review = _htmx(client, base + "/schedule", {"frequency": "none"}).get_data(as_text=True)
    with tenant_context(tenant.id):
        today = service.today()
    assert f"to {today} (" in review


@pytest.mark.parametrize("change, field, message", [
    ({"frequency": "cron", "cron": "61 * * * *"}, "cron", "five fields"),
    ({"frequency": "cron", "cron": "* * * * * *"}, "cron", "five fields"),
    ({"frequency": "hourly", "minute": "60"}, "minute", "from 0 to 59"),
    ({"time": "09:00, 25:00"}, "time", "HH:MM"),
    ({"start_date": "2026-05-01", "end_date": "2026-04-01"}, "end_date", "on or after"),
    ({"catch_up": "on", "max_catch_up": "500"}, "max_catch_up", "from 1 to 50"),
    ({"pause_after_failures": "-1"}, "pause_after_failures", "from 0"),
])
def test_bad_schedules_are_refused_naming_the_field(wizard, client, change, field, message):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    response = _htmx(client, base + "/schedule", {**SCHEDULE, **change})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="e-{field}"' in body and message in body


def test_several_times_a_day_and_cron_preview_in_their_own_timezone(wizard, client):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    twice = _htmx(client, base + "/schedule", {"frequency": "daily", "time": "17:30, 09:00",
                                               "timezone": "Asia/Kathmandu", "direction": "refresh"})
    times = re.findall(r"(\d\d:\d\d) \+0545", twice.get_data(as_text=True))
    assert len(times) == 5 and set(times) == {"09:00", "17:30"}
    cron = _htmx(client, base + "/schedule", {"frequency": "cron", "cron": "15 */6 * * *",
                                              "timezone": "Australia/Lord_Howe", "direction": "refresh"})
    assert len(re.findall(r"\d\d:15 \+1[01]", cron.get_data(as_text=True))) == 5


def test_the_report_page_shows_its_schedule_in_its_own_timezone_and_the_last_run(member, client, login, launch):
    tenant, user = member
    wid, _ = launch(tenant, user, schedule={"frequency": "daily", "times": ["09:00"], "time": "09:00",
                                            "timezone": "America/New_York"})
    login(user)
    page = client.get(f"/t/{tenant.slug}/reports/{wid}").get_data(as_text=True)
    assert "Last run: never" not in page and "Last run: " in page
    next_runs = re.search(r'<ol class="next-runs">(.*?)</ol>', page, re.S).group(1)
    assert next_runs.count(" 09:00 E") == 5 and "UTC" not in next_runs


def test_progress_polls_send_only_the_cells_that_changed(member, client, login, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, segment="daily", start="2025-01-01", end="2025-12-31")  # 365 cells
    time.sleep(1.5)  # the cells were written at launch; a poll asks for what changed after
    login(user)
    url = f"/t/{tenant.slug}/reports/runs/{cid}/progress"
    full = client.get(url).get_data(as_text=True)
    since = re.search(r"since=([^\"&]+)", full).group(1)
    with tenant_context(tenant.id):
        engine.claim(cid, "a-worker")  # one segment changes
    delta = client.get(url + "?since=" + since, headers={"HX-Request": "true"})  # as htmx sends it
    body = delta.get_data(as_text=True)
    assert delta.status_code == 200 and body.count('id="seg-') == 1 and 'class="cell running"' in body
    assert 'hx-swap-oob="true"' in body and "1 running" in body and 'hx-trigger="load delay:2s"' in body
    assert len(body) * 50 < len(full)
    with tenant_context(tenant.id):
        engine.cancel(service.get_collection(cid))
    done = client.get(url, query_string={"since": datetime.now(UTC).isoformat()}, headers={"HX-Request": "true"})
    assert done.headers["HX-Refresh"] == "true" and 'data-status="cancelled"' in done.get_data(as_text=True)
    assert "hx-trigger" not in done.get_data(as_text=True)


def test_catch_up_runs_each_missed_slot_up_to_its_bound(member):
    tenant, _ = member
    config = report_config(schedule={"frequency": "daily", "time": "06:00", "timezone": "UTC", "catchUp": True,
                                     "maxCatchUp": 3})
    config["lookback_config"] = {"type": "relative", "value": 1, "unit": "days"}
    with tenant_context(tenant.id):
        service.create_report(config, None)
        db.session.execute(db.text("UPDATE workflow_schedules SET next_run_at = :at"),
                           {"at": datetime(2026, 4, 1, 6, tzinfo=UTC)})
        assert service.tick(datetime(2026, 4, 10, 12, tzinfo=UTC)) == 3  # nine slots missed, three kept
        ends = db.session.scalars(db.text("SELECT end_date FROM report_data_collections WHERE trigger = 'schedule' "
                                          "ORDER BY end_date")).all()
    assert [d.isoformat() for d in ends] == ["2026-04-07", "2026-04-08", "2026-04-09"]
