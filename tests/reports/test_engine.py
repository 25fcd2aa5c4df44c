"""The backfill engine with real RQ workers: results, idempotent reruns, retries, status, cancel, sweep."""

from __future__ import annotations

from sqlalchemy import select

from strata.db import db
from strata.reports import engine, service
from strata.reports.models import Collection, ReportSegment, Schedule
from strata.tenancy.service import tenant_context


def segments(tenant, collection_id):
    with tenant_context(tenant.id):
        rows = db.session.scalars(select(ReportSegment).where(ReportSegment.collection_id == collection_id)
                                  .order_by(ReportSegment.week_start)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def status(tenant, collection_id):
    with tenant_context(tenant.id):
        collection = db.session.get(Collection, collection_id)
        schedule = db.session.scalar(select(Schedule).where(Schedule.backfill_collection_id == collection_id))
        return collection.status, schedule.backfill_status


def test_backfill_computes_every_segment_and_completes(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-07", end="2026-02-01", limit=3)  # Wednesday start: clipped
    assert status(tenant, cid) == ("running", "in_progress")
    run_jobs("backfills")
    rows = segments(tenant, cid)
    assert [(r.status, r.result_data, r.attempts) for r in rows] == [
        ("completed", {"days": 5.0}, 1), ("completed", {"days": 7.0}, 1), ("completed", {"days": 7.0}, 1),
        ("completed", {"days": 7.0}, 1)]
    assert status(tenant, cid) == ("completed", "completed")


def test_failures_without_retry_make_the_collection_partial(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, filters={"fail_dates": "2026-01-12"})
    run_jobs("backfills")
    rows = segments(tenant, cid)
    assert [r.status for r in rows] == ["completed", "failed", "completed", "completed"]
    assert rows[1].attempts == 1 and "synthetic failure" in rows[1].error
    assert status(tenant, cid) == ("partial", "partial")


def test_retry_failed_retries_with_rq_then_partial_when_it_keeps_failing(member, launch, run_jobs):
    tenant, user = member
    # Both segments fail only on their first attempt: after a back-off they run again and the run completes.
    _, cid = launch(tenant, user, retry=True, limit=1,
                    filters={"fail_dates": "2026-01-12,2026-01-19", "recover_after": 1})
    run_jobs("backfills")
    rows = segments(tenant, cid)
    assert [(r.status, r.attempts) for r in rows] == [("completed", 1), ("completed", 2), ("completed", 2),
                                                      ("completed", 1)]
    assert status(tenant, cid) == ("completed", "completed")

    # A segment that keeps failing is tried MAX_ATTEMPTS times, then the run ends partial.
    _, cid = launch(tenant, user, retry=True, limit=2, filters={"fail_dates": "2026-01-12"})
    run_jobs("backfills")
    rows = segments(tenant, cid)
    assert [(r.status, r.attempts) for r in rows] == [("completed", 1), ("failed", engine.MAX_ATTEMPTS),
                                                      ("completed", 1), ("completed", 1)]
    assert f"(attempt {engine.MAX_ATTEMPTS})" in rows[1].error
    assert status(tenant, cid) == ("partial", "partial")


def test_every_segment_failing_makes_the_collection_failed(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-18",
                    filters={"fail_dates": "2026-01-05,2026-01-12"})
    run_jobs("backfills")
    assert status(tenant, cid) == ("failed", "failed")


def test_retrying_failed_segments_replaces_their_data_and_completes(member, launch, run_jobs):
    tenant, user = member
    wid, cid = launch(tenant, user, filters={"fail_dates": "2026-01-12"})
    run_jobs("backfills")
    with tenant_context(tenant.id):
        workflow = service.get_workflow(wid)
        workflow.parameters = {**workflow.parameters, "filters": {}}
        db.session.commit()
        assert engine.rerun(service.get_collection(cid)) == 1
    run_jobs("backfills")
    assert [r.status for r in segments(tenant, cid)] == ["completed"] * 4
    assert status(tenant, cid) == ("completed", "completed")
    # Re-running a completed segment replaces its result: still one value, not two.
    first = segments(tenant, cid)[0]
    with tenant_context(tenant.id):
        assert engine.rerun(service.get_collection(cid), [first.id]) == 1
    run_jobs("backfills")
    again = segments(tenant, cid)[0]
    # A manual retry adds an attempt: the count goes on, it is not reset.
    assert again.result_data == {"days": 7.0} and again.row_count == 1 and again.attempts == 2


def test_cancel_stops_pending_segments(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user)
    with tenant_context(tenant.id):
        engine.cancel(service.get_collection(cid))
    run_jobs("backfills")
    assert {r.status for r in segments(tenant, cid)} == {"cancelled"}
    assert status(tenant, cid) == ("cancelled", "failed")


def test_sweep_requeues_a_segment_whose_heartbeat_stopped(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-11")
    with tenant_context(tenant.id):
        # A worker claimed the segment and died: running, heartbeat a minute old.
        claimed = engine.claim(cid, "dead-worker")
        db.session.execute(db.text("UPDATE report_data_weeks SET heartbeat_at = now() - interval '1 minute'"))
        db.session.commit()
        assert engine.sweep(stale_after=30) == {"segments": 1, "collections": 1}
    run_jobs("backfills")
    (row,) = segments(tenant, cid)
    assert row.id == claimed.id and row.status == "completed" and row.attempts == 2
    assert status(tenant, cid) == ("completed", "completed")


def test_sweep_cancels_a_dead_segment_of_a_cancelled_run(member, launch):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-11")
    with tenant_context(tenant.id):
        engine.claim(cid, "dead-worker")
        engine.cancel(service.get_collection(cid))
        db.session.execute(db.text("UPDATE report_data_weeks SET heartbeat_at = now() - interval '1 minute'"))
        db.session.commit()
        assert engine.sweep(stale_after=30) == {"segments": 0, "collections": 0}
    (row,) = segments(tenant, cid)
    assert row.status == "cancelled" and "cancelled" in row.error


def test_a_late_result_from_a_swept_attempt_is_ignored(member, launch):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-11")
    with tenant_context(tenant.id):
        first = engine.claim(cid, "slow-worker")
        db.session.execute(db.text("UPDATE report_data_weeks SET heartbeat_at = now() - interval '1 minute'"))
        db.session.commit()
        engine.sweep(stale_after=30)
        second = engine.claim(cid, "new-worker")
        assert (first.id, first.attempt, second.id, second.attempt) == (second.id, 1, first.id, 2)
        # The first worker was only stalled and now reports: its write matches no row.
        engine.claim(cid, "slow-worker", engine.Outcome(first.id, 1, "completed", {"days": 99.0}), take=False)
        engine.claim(cid, "new-worker", engine.Outcome(second.id, 2, "completed", {"days": 7.0}), take=False)
    (row,) = segments(tenant, cid)
    assert (row.status, row.attempts, row.result_data, row.row_count) == ("completed", 2, {"days": 7.0}, 1)
