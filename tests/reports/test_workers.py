"""Real `flask worker` processes: the parallel limit holds, and a killed worker's segment reruns once."""

from __future__ import annotations

from sqlalchemy import select

from strata.db import db
from strata.reports import engine
from strata.reports.models import Collection, ReportSegment
from strata.tenancy.service import tenant_context
from tests.reports.conftest import wait_for
from workers import enqueue
from workers.reports import run_slot


def _rows(tenant, collection_id):
    with tenant_context(tenant.id):
        rows = db.session.execute(select(ReportSegment.status, ReportSegment.started_at, ReportSegment.completed_at,
                                         ReportSegment.attempts, ReportSegment.result_data, ReportSegment.worker)
                                  .where(ReportSegment.collection_id == collection_id)
                                  .order_by(ReportSegment.week_start)).all()
        return rows


def _collection_status(tenant, collection_id):
    with tenant_context(tenant.id):
        return db.session.get(Collection, collection_id, populate_existing=True).status


def max_overlap(rows) -> int:
    """The largest number of segments that were running at one instant (from their start and end times)."""
    events = sorted([(r.started_at, 1) for r in rows] + [(r.completed_at, -1) for r in rows],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_parallel_limit_is_never_exceeded_by_several_workers(member, launch, workers, app, record_testsuite_property):
    tenant, user = member
    # 12 daily segments of 0.4 s, limit 2; four workers and extra slot jobs compete for them.
    _, cid = launch(tenant, user, segment="daily", start="2026-01-01", end="2026-01-12", limit=2,
                    filters={"seconds": 0.4})
    for _ in range(4):
        enqueue(run_slot, tenant.id, str(cid))  # more slots than the limit: the claim still caps them
    workers.start(4)
    wait_for(lambda: _collection_status(tenant, cid) == "completed", timeout=90)
    rows = _rows(tenant, cid)
    peak = max_overlap(rows)
    print(f"parallel_limit=2, workers=4, slots=6: maximum running at once = {peak}")
    record_testsuite_property("max_running_segments", peak)  # in the JUnit XML report (--junitxml)
    assert peak == 2
    assert len({r.worker.split(":")[1] for r in rows}) >= 2  # really spread over worker processes


def test_killed_worker_segment_completes_after_restart_without_doubling(member, launch, workers, app):
    tenant, user = member
    _, cid = launch(tenant, user, start="2026-01-05", end="2026-01-18", limit=1, filters={"seconds": 3})
    (first,) = workers.start(1)
    wait_for(lambda: [r for r in _rows(tenant, cid) if r.status == "running"], timeout=60)
    workers.kill(first)  # mid-segment: the horse dies with its worker
    rows = _rows(tenant, cid)
    assert [r.status for r in rows].count("running") == 1
    with tenant_context(tenant.id):
        assert engine.sweep(stale_after=30) == {"segments": 0, "collections": 0}  # heartbeat still fresh
        db.session.execute(db.text("UPDATE report_data_weeks SET heartbeat_at = heartbeat_at - interval '1 minute' "
                                   "WHERE status = 'running'"))
        db.session.commit()
        assert engine.sweep(stale_after=30)["segments"] == 1
    workers.start(1)
    wait_for(lambda: _collection_status(tenant, cid) == "completed", timeout=60)
    rows = _rows(tenant, cid)
    assert [(r.status, r.result_data) for r in rows] == [("completed", {"days": 7.0})] * 2
    assert rows[0].attempts == 2 and rows[1].attempts == 1
