"""The wizard over HTTP: steps, back without losing input, draft resume, 422s, audit rows, submit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from strata.db import db
from strata.reports.models import BuilderAudit, Collection, ReportSegment, Schedule, Workflow
from strata.tenancy.service import tenant_context

PARAMS = {"name": "Weekly load", "data_source": "synthetic", "metric": "days", "seconds": "0", "fail_dates": "",
          "recover_after": "0", "lookback": "custom", "start_date": "2026-01-07", "end_date": "2026-02-01",
          "segment_type": "weekly", "parallel_limit": "3", "retry_failed": "on"}
SCHEDULE = {"frequency": "monthly", "time": "09:00", "timezone": "America/New_York", "day_of_month": "31"}


@pytest.fixture
def wizard(client, login, member):
    tenant, user = member
    login(user)
    base = f"/t/{tenant.slug}/reports/new"
    return tenant, user, base


def _count(tenant, model):
    with tenant_context(tenant.id):
        return db.session.scalar(select(func.count()).select_from(model))


def _htmx(client, url, data):
    return client.post(url, data=data, headers={"HX-Request": "true"})


def test_four_steps_create_workflow_schedule_and_backfill_with_one_audit_row_per_step(wizard, client, run_jobs):
    tenant, user, base = wizard
    page = client.get(base + "/")
    assert page.status_code == 200 and "1. Parameters" in page.get_data(as_text=True)
    step2 = _htmx(client, base + "/parameters", PARAMS)
    assert step2.status_code == 200 and "Next five runs" not in step2.get_data(as_text=True)
    assert 'aria-current="step"' in step2.get_data(as_text=True) and "<h2>Schedule</h2>" in step2.get_data(as_text=True)
    step3 = _htmx(client, base + "/schedule", SCHEDULE)
    body = step3.get_data(as_text=True)
    assert "<h2>Review</h2>" in body and 'id="segment-total">4<' in body and "2026-01-07" in body
    step4 = _htmx(client, base + "/review", {})
    assert "<h2>Submit</h2>" in step4.get_data(as_text=True)
    done = _htmx(client, base + "/submit", {"direction": "submit"})
    assert done.status_code == 200 and "/reports/runs/" in done.headers["HX-Redirect"]
    with tenant_context(tenant.id):
        workflow = db.session.scalar(select(Workflow))
        schedule = db.session.scalar(select(Schedule))
        steps = db.session.execute(select(BuilderAudit.step_completed, BuilderAudit.workflow_id, BuilderAudit.user_id,
                                          BuilderAudit.configuration).order_by(BuilderAudit.created_at)).all()
        assert workflow.name == "Weekly load" and workflow.parameters["segmentation"]["parallel_limit"] == 3
        assert schedule.schedule_config["dayOfMonth"] == 31 and schedule.is_active and schedule.next_run_at
        assert schedule.backfill_status == "in_progress"
        assert [s.step_completed for s in steps] == ["parameters", "schedule", "review", "submit"]
        assert all(s.user_id == user.id for s in steps) and steps[-1].workflow_id == workflow.id
        assert steps[1].configuration["schedule_config"]["timezone"] == "America/New_York"
        assert steps[0].configuration["lookback_config"] == {"type": "custom", "startDate": "2026-01-07",
                                                             "endDate": "2026-02-01"}
        # Each row holds the whole configuration so far, not only its own step's fields.
        full = {"name", "data_source", "parameters", "lookback_config", "segmentation_config", "schedule_config"}
        assert set(steps[0].configuration) == full - {"schedule_config"}
        assert all(set(s.configuration) == full for s in steps[1:])
        assert steps[3].configuration["segmentation_config"] == {
            "type": "weekly", "parallel_limit": 3, "retry_failed": True, "max_attempts": 3, "backoff_seconds": 2.0,
            "timeout_seconds": 300.0}
    run_jobs("backfills")
    run = client.get(done.headers["HX-Redirect"]).get_data(as_text=True)
    assert "results-chart" in run and 'data-status="completed"' in run and "hx-trigger" not in run.split("results")[0]
    csv = client.get(done.headers["HX-Redirect"] + "/results.csv").get_data(as_text=True)
    assert csv.splitlines()[:2] == ["segment_start,segment_end,status,days", "2026-01-07,2026-01-11,completed,5"]


def test_back_keeps_input_and_a_reload_resumes_the_draft(wizard, client):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    back = _htmx(client, base + "/schedule", {**SCHEDULE, "time": "07:45", "direction": "back"})
    assert "<h2>Parameters</h2>" in back.get_data(as_text=True) and 'value="Weekly load"' in back.get_data(as_text=True)
    again = _htmx(client, base + "/parameters", PARAMS)
    assert 'value="07:45"' in again.get_data(as_text=True)  # the schedule typed before going back
    reload = client.get(base + "/").get_data(as_text=True)
    assert "<h2>Schedule</h2>" in reload and 'value="07:45"' in reload


@pytest.mark.parametrize("change, field, message", [
    ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date", "End date must be on or after"),
    ({"parallel_limit": "0"}, "parallel_limit", "from 1 to 50"),
    ({"parallel_limit": "51"}, "parallel_limit", "from 1 to 50"),
    ({"start_date": "2010-01-01", "end_date": "2026-01-01"}, "start_date", "at most ten years"),
    ({"lookback": "months", "lookback_count": "121"}, "lookback_count", "at most ten years"),
    ({"lookback": "weeks", "lookback_count": "522"}, "lookback_count", "at most ten years"),
    ({"start_date": "0001-01-01", "end_date": "0001-01-07"}, "start_date", "from 1800-01-01 to 2199-12-31"),
    ({"name": ""}, "name", "Give the report a name"),
    ({"data_source": "nope"}, "data_source", "Choose a data source"),
])
def test_bad_parameters_are_refused_inline_and_nothing_is_recorded(wizard, client, change, field, message):
    tenant, user, base = wizard
    response = _htmx(client, base + "/parameters", {**PARAMS, **change})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="e-{field}"' in body and message in body and "<h2>Parameters</h2>" in body
    assert _count(tenant, BuilderAudit) == 0 and _count(tenant, Workflow) == 0


@pytest.mark.parametrize("change, field, message", [
    ({"timezone": "Mars/Olympus"}, "timezone", "not a known IANA timezone"),
    ({"day_of_month": "32"}, "day_of_month", "from 1 to 31"),
    ({"time": "25:00"}, "time", "HH:MM"),
    ({"frequency": "weekly"}, "days_of_week", "at least one day"),
])
def test_bad_schedules_are_refused_inline(wizard, client, change, field, message):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    response = _htmx(client, base + "/schedule", {**SCHEDULE, **change})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True) and f'id="e-{field}"' in response.get_data(as_text=True)
    assert _count(tenant, BuilderAudit) == 1  # only the parameters step
    assert _count(tenant, Collection) == 0 and _count(tenant, ReportSegment) == 0


def test_schedule_step_previews_the_next_five_runs_in_local_time(wizard, client):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    preview = _htmx(client, base + "/schedule", {**SCHEDULE, "direction": "refresh"}).get_data(as_text=True)
    assert "Next five runs" in preview and preview.count(" 09:00 E") == 5  # EST or EDT, always 09:00


def test_submit_before_the_earlier_steps_is_refused(wizard, client):
    tenant, user, base = wizard
    response = _htmx(client, base + "/submit", {"direction": "submit"})
    assert response.status_code == 422 and "Complete the earlier steps first" in response.get_data(as_text=True)
    assert _count(tenant, Workflow) == 0


def test_viewers_cannot_open_the_wizard(client, login, make_user, member):
    tenant, _ = member
    login(make_user(), tenant=tenant, role="viewer")
    assert client.get(f"/t/{tenant.slug}/reports/new/").status_code == 403
    assert client.get(f"/t/{tenant.slug}/reports/").status_code == 200


def test_changing_an_earlier_step_requires_the_later_ones_again(wizard, client):
    tenant, user, base = wizard
    _htmx(client, base + "/parameters", PARAMS)
    _htmx(client, base + "/schedule", SCHEDULE)
    _htmx(client, base + "/review", {})
    _htmx(client, base + "/parameters", {**PARAMS, "segment_type": "daily"})
    assert "<h2>Schedule</h2>" in client.get(base + "/submit", headers={"HX-Request": "true"}).get_data(as_text=True)
    refused = _htmx(client, base + "/submit", {"direction": "submit"})
    assert refused.status_code == 422 and _count(tenant, Workflow) == 0
