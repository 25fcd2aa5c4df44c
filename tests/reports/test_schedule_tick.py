"""The schedule tick: due schedules start one run, never two at once, and catch up once after downtime."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from strata.db import db
from strata.reports import service
from strata.reports.models import Collection, Schedule
from strata.tenancy.service import tenant_context
from tests.reports.conftest import report_config

DAILY = {"frequency": "daily", "time": "06:00", "timezone": "Europe/London"}


def _scheduled(tenant, lookback=None):
    config = report_config(schedule=DAILY)
    config["lookback_config"] = lookback or {"type": "relative", "value": 7, "unit": "days"}
    with tenant_context(tenant.id):
        workflow, _ = service.create_report(config, None)
        db.session.commit()
        return workflow.id


def _set_next(tenant, when):
    with tenant_context(tenant.id):
        db.session.execute(db.text("UPDATE workflow_schedules SET next_run_at = :at"), {"at": when})


def _runs(tenant):
    with tenant_context(tenant.id):
        return db.session.execute(select(Collection.start_date, Collection.end_date, Collection.trigger)
                                  .where(Collection.trigger == "schedule")).all()


def test_due_schedule_starts_one_run_for_the_lookback_before_its_run_time(member):
    tenant, _ = member
    _scheduled(tenant)
    _set_next(tenant, datetime(2026, 4, 10, 5, 0, tzinfo=UTC))  # 06:00 London (BST)
    now = datetime(2026, 4, 10, 5, 0, 20, tzinfo=UTC)
    with tenant_context(tenant.id):
        assert service.tick(now) == 1
    with tenant_context(tenant.id):
        assert service.tick(now) == 0
        schedule = db.session.scalar(select(Schedule))
        assert schedule.last_run_at == now and schedule.next_run_at == datetime(2026, 4, 11, 5, 0, tzinfo=UTC)
        assert schedule.backfill_status == "in_progress"
    (run,) = _runs(tenant)
    assert (run.start_date.isoformat(), run.end_date.isoformat()) == ("2026-04-03", "2026-04-09")


def test_after_downtime_a_missed_schedule_runs_once_for_the_latest_slot(member):
    tenant, _ = member
    _scheduled(tenant)
    _set_next(tenant, datetime(2026, 4, 1, 5, 0, tzinfo=UTC))
    now = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)  # nine slots missed
    with tenant_context(tenant.id):
        assert service.tick(now) == 1
        assert db.session.scalar(select(Schedule.next_run_at)) == datetime(2026, 4, 11, 5, 0, tzinfo=UTC)
    (run,) = _runs(tenant)
    assert run.end_date.isoformat() == "2026-04-09"  # relative to the 10 April slot


def test_two_ticks_at_once_never_start_the_same_run(member, app):
    tenant, _ = member
    for _ in range(6):
        _scheduled(tenant)
    _set_next(tenant, datetime(2026, 4, 10, 5, 0, tzinfo=UTC))
    now = datetime(2026, 4, 10, 5, 1, tzinfo=UTC)
    started, barrier = [], threading.Barrier(2)

    def tick():
        with app.app_context():
            barrier.wait()
            with tenant_context(tenant.id):
                started.append(service.tick(now))
            db.session.remove()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(started) == 6
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Collection).where(
            Collection.trigger == "schedule")) == 6


def test_paused_schedules_do_not_run_and_resume_without_catch_up(member, client, login):
    tenant, user = member
    workflow_id = _scheduled(tenant)
    login(user)
    base = f"/t/{tenant.slug}/reports/{workflow_id}"
    assert client.post(base + "/pause", headers={"HX-Request": "true"}).status_code == 200
    with tenant_context(tenant.id):
        schedule = db.session.scalar(select(Schedule))
        assert not schedule.is_active and schedule.next_run_at is None
        assert service.tick(datetime.now(UTC) + timedelta(days=3)) == 0
    client.post(base + "/resume")
    with tenant_context(tenant.id):
        schedule = db.session.scalar(select(Schedule))
        assert schedule.is_active and schedule.next_run_at > datetime.now(UTC)


def test_editing_a_schedule_recomputes_its_next_run_and_refuses_bad_input(member, client, login):
    tenant, user = member
    workflow_id = _scheduled(tenant)
    login(user)
    url = f"/t/{tenant.slug}/reports/{workflow_id}/schedule"
    bad = client.post(url, data={"frequency": "monthly", "time": "09:00", "timezone": "America/New_York",
                                 "day_of_month": "32"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "from 1 to 31" in bad.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert db.session.scalar(select(Schedule.schedule_config)) == DAILY
    good = client.post(url, data={"frequency": "weekly", "time": "18:30", "timezone": "America/New_York",
                                  "days_of_week": ["2", "4"]}, headers={"HX-Request": "true"})
    assert good.status_code == 200 and 'id="schedule"' in good.get_data(as_text=True)
    with tenant_context(tenant.id):
        schedule = db.session.scalar(select(Schedule))
        assert schedule.schedule_config["daysOfWeek"] == [2, 4]
        local = schedule.next_run_at.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute, local.isoweekday() in (2, 4)) == (18, 30, True)


def test_another_tenants_report_and_run_are_404(member, make_user, make_tenant, client, login, launch):
    tenant, user = member
    workflow_id, collection_id = launch(tenant, user)
    stranger = make_user()
    other = make_tenant(members={stranger: "admin"})
    login(stranger)
    for path in (f"/reports/{workflow_id}", f"/reports/runs/{collection_id}", f"/reports/runs/{collection_id}/progress",
                 f"/reports/runs/{collection_id}/results.csv", "/reports/not-a-uuid"):
        assert client.get(f"/t/{other.slug}{path}").status_code == 404, path
    assert client.post(f"/t/{other.slug}/reports/runs/{collection_id}/cancel").status_code == 404
    assert client.get(f"/t/{tenant.slug}/reports/{workflow_id}").status_code == 404  # not a member there


def test_run_page_polls_while_running_and_retry_segment_button_reruns(member, client, login, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, filters={"fail_dates": "2026-01-12"})
    login(user)
    url = f"/t/{tenant.slug}/reports/runs/{cid}"
    running = client.get(url + "/progress").get_data(as_text=True)
    assert 'hx-trigger="load delay:2s"' in running and running.count('class="cell pending"') == 4
    run_jobs("backfills")
    done = client.get(url + "/progress").get_data(as_text=True)
    assert "hx-trigger=\"load" not in done and 'data-status="partial"' in done
    assert "synthetic failure for the segment starting 2026-01-12" in done and "Retry failed segments" in done
    with tenant_context(tenant.id):
        segment_id = db.session.scalar(db.text("SELECT id FROM report_data_weeks WHERE status = 'failed'"))
    again = client.post(f"{url}/segments/{segment_id}/retry", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:2s"' in again and 'class="cell pending"' in again
