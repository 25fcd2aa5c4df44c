"""The partitions view (latest status per period across runs; fill missing, retry failed, backfill a range),
the attempts page, and alerts to the report's owner (in-app, and a schedule paused after a failure streak)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from strata.db import db
from strata.reports import service
from strata.reports.models import Collection, Notification, ReportSegment, Schedule, Workflow
from strata.tenancy.service import tenant_context
from tests.reports.conftest import report_config

RANGE = {"start_date": "2025-12-29", "end_date": "2026-02-08"}


def cells(body: str) -> list[tuple[str, str]]:
    return re.findall(r'data-status="(\w+)" data-start="([\d-]+)"', body)


def _report_with_a_failure(tenant, user, launch, run_jobs):
    wid, cid = launch(tenant, user, filters={"fail_dates": "2026-01-12"})  # weekly, 2026-01-05 .. 2026-02-01
    run_jobs("backfills")
    return wid, cid


def _collections(tenant, wid):
    with tenant_context(tenant.id):
        return db.session.execute(select(Collection.id, Collection.start_date, Collection.end_date,
                                         Collection.trigger, func.count(ReportSegment.id))
                                  .join(ReportSegment, ReportSegment.collection_id == Collection.id)
                                  .where(Collection.workflow_id == wid).group_by(Collection.id)
                                  .order_by(Collection.created_at)).all()


def test_partitions_fill_missing_and_retry_failed(member, client, login, launch, run_jobs):
    tenant, user = member
    wid, cid = _report_with_a_failure(tenant, user, launch, run_jobs)
    login(user)
    base = f"/t/{tenant.slug}/reports/{wid}/partitions"
    page = client.get(base, query_string=RANGE)
    assert page.status_code == 200
    assert cells(page.get_data(as_text=True)) == [
        ("missing", "2025-12-29"), ("completed", "2026-01-05"), ("failed", "2026-01-12"), ("completed", "2026-01-19"),
        ("completed", "2026-01-26"), ("missing", "2026-02-02")]

    filled = client.post(base + "/fill", data=RANGE)
    assert filled.status_code == 302 and "/reports/runs/" in filled.headers["Location"]
    runs = _collections(tenant, wid)
    assert [(r.trigger, r.start_date.isoformat(), r[4]) for r in runs[1:]] == [("backfill", "2025-12-29", 2)]
    run_jobs("backfills")

    # The failing source is fixed; "retry failed" reruns the failed period in its own run: one more attempt.
    with tenant_context(tenant.id):
        workflow = service.get_workflow(wid)
        workflow.parameters = {**workflow.parameters, "filters": {}}
        db.session.commit()
    retried = client.post(base + "/retry", data=RANGE, follow_redirects=True)
    assert "1 failed period(s) sent back to work." in retried.get_data(as_text=True)
    run_jobs("backfills")
    assert {status for status, _ in cells(client.get(base, query_string=RANGE).get_data(as_text=True))} == {
        "completed"}
    with tenant_context(tenant.id):
        segment = db.session.scalar(select(ReportSegment).where(ReportSegment.collection_id == cid,
                                                                ReportSegment.week_start == date(2026, 1, 12)))
        assert (segment.status, segment.attempts) == ("completed", 2)
    nothing = client.post(base + "/fill", data=RANGE, follow_redirects=True)
    assert "No missing period in this range." in nothing.get_data(as_text=True)


def test_backfill_a_range_is_clipped_to_the_reports_limits(member, client, login, launch, run_jobs):
    tenant, user = member
    wid, _ = launch(tenant, user)
    login(user)
    base = f"/t/{tenant.slug}/reports/{wid}/partitions"
    today = service_today(tenant)
    response = client.post(base + "/backfill", data={"start_date": (today - timedelta(days=10)).isoformat(),
                                                     "end_date": "2031-01-01"})
    assert response.status_code == 302
    latest = _collections(tenant, wid)[-1]
    assert latest.end_date == today - timedelta(days=1) and latest.trigger == "backfill"
    for data, field, message in (({"start_date": "2031-01-01", "end_date": "2031-02-01"}, "end_date", "has ended"),
                                 ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date", "on or after"),
                                 ({"start_date": "soon", "end_date": "2026-01-01"}, "start_date", "YYYY-MM-DD")):
        refused = client.post(base + "/backfill", data=data)
        assert refused.status_code == 422, data
        assert f'id="e-{field}"' in refused.get_data(as_text=True) and message in refused.get_data(as_text=True)
    assert len(_collections(tenant, wid)) == 2


def service_today(tenant):
    with tenant_context(tenant.id):
        return service.today()


def test_attempts_page_lists_every_attempt_and_other_runs_segments_are_404(member, client, login, launch, run_jobs,
                                                                            make_user, make_tenant):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-11", retry=True, max_attempts=2,
                    filters={"fail_dates": "2026-01-05"})
    _, other = launch(tenant, user, start="2026-01-05", end="2026-01-11")
    run_jobs("backfills")
    with tenant_context(tenant.id):
        segment_id = db.session.scalar(select(ReportSegment.id).where(ReportSegment.collection_id == cid))
    login(user)
    page = client.get(f"/t/{tenant.slug}/reports/runs/{cid}/segments/{segment_id}").get_data(as_text=True)
    assert page.count('<tr data-status="') == 2 and 'data-status="retrying"' in page and 'data-status="failed"' in page
    assert "synthetic failure for the segment starting 2026-01-05 (attempt 2)" in page
    assert client.get(f"/t/{tenant.slug}/reports/runs/{other}/segments/{segment_id}").status_code == 404
    stranger = make_user()
    elsewhere = make_tenant(members={stranger: "admin"})
    login(stranger)
    assert client.get(f"/t/{elsewhere.slug}/reports/runs/{cid}/segments/{segment_id}").status_code == 404


def test_a_failed_run_notifies_its_owner_in_the_app(member, client, login, launch, run_jobs):
    tenant, user = member
    launch(tenant, user, start="2026-01-05", end="2026-01-18", filters={"fail_dates": "2026-01-05,2026-01-12"})
    launch(tenant, user, start="2026-01-05", end="2026-01-11")  # completes: no alert
    run_jobs("backfills")
    login(user)
    index = client.get(f"/t/{tenant.slug}/reports/").get_data(as_text=True)
    assert "1 new" in index
    listing = client.get(f"/t/{tenant.slug}/reports/notifications").get_data(as_text=True)
    assert "ended failed: 2 of 2 segments failed." in listing and listing.count("<tr><td>") == 1
    assert "1 new" not in client.get(f"/t/{tenant.slug}/reports/").get_data(as_text=True)  # read now


def test_a_schedule_is_paused_after_its_failure_streak(member, run_jobs):
    tenant, user = member
    schedule = {"frequency": "daily", "time": "06:00", "timezone": "UTC", "pauseAfterFailures": 2}
    config = report_config(schedule=schedule)
    config["lookback_config"] = {"type": "relative", "value": 2, "unit": "days"}
    with tenant_context(tenant.id):
        workflow, _ = service.create_report(config, user.id)
        workflow.data_source = "retired"  # every segment fails: the source is gone
        db.session.commit()
        wid = workflow.id
    for day in (1, 2):
        with tenant_context(tenant.id):
            db.session.execute(db.text("UPDATE workflow_schedules SET next_run_at = :at"),
                               {"at": datetime(2026, 4, day, 6, tzinfo=UTC)})
            assert service.tick(datetime(2026, 4, day, 6, 1, tzinfo=UTC)) == 1
        run_jobs("backfills")
    with tenant_context(tenant.id):
        paused = db.session.scalar(select(Schedule).where(Schedule.workflow_id == wid))
        kinds = db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)).all()
        assert not paused.is_active and paused.next_run_at is None
        assert kinds == ["failed", "failed", "paused"]
        assert db.session.scalar(select(func.count()).select_from(Workflow)) == 1
