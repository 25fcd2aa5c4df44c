"""Retry policy and attempt history with real RQ workers: back-off, Retry-After, no retry on 404, timeouts,
manual retries that add attempts, and parallel_limit held per report across all its runs."""

from __future__ import annotations

import json
import random
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from strata.db import db
from strata.reports import engine, service
from strata.reports.models import ReportSegment, SegmentAttempt
from strata.reports.retries import RetryPolicy, retryable
from strata.reports.sources import SourceError
from strata.tenancy.service import tenant_context
from tests.reports.conftest import wait_for
from tests.reports.test_workers import _collection_status, max_overlap

ONE_WEEK = {"start": "2026-01-05", "end": "2026-01-11"}


def attempts(tenant, collection_id):
    with tenant_context(tenant.id):
        rows = db.session.scalars(
            select(SegmentAttempt).join(ReportSegment, ReportSegment.id == SegmentAttempt.segment_id)
            .where(ReportSegment.collection_id == collection_id)
            .order_by(ReportSegment.week_start, SegmentAttempt.attempt)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def gaps(rows):
    return [(b.started_at - a.ended_at).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]


def test_delay_is_exponential_with_jitter_and_never_below_retry_after():
    policy = RetryPolicy(max_attempts=5, backoff_seconds=2, backoff_max_seconds=10)
    rng = random.Random(7)
    for failures, ceiling in ((1, 2), (2, 4), (3, 8), (4, 10), (5, 10)):
        waits = [policy.delay(failures, rng=rng) for _ in range(200)]
        assert ceiling / 2 <= min(waits) and max(waits) <= ceiling and max(waits) - min(waits) > ceiling / 4
    assert policy.delay(1, retry_after=30, rng=rng) == 30
    assert RetryPolicy.of({"retry_failed": False, "max_attempts": 5}).max_attempts == 1
    assert RetryPolicy.of({"retry_failed": True, "max_attempts": 5}).max_attempts == 5


@pytest.mark.parametrize("status, expected", [(None, True), (404, False), (400, False), (403, False), (408, True),
                                              (429, True), (500, True), (503, True)])
def test_which_failures_are_retried(status, expected):
    assert retryable(SourceError("x", status=status)) is expected
    assert retryable(SourceError("x", retryable=False)) is False


def test_back_off_grows_between_attempts_and_every_attempt_is_kept(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, retry=True, max_attempts=3, backoff=0.6,
                    filters={"fail_dates": "2026-01-05"})
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [(r.attempt, r.status) for r in rows] == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    assert all(r.worker and r.ended_at >= r.started_at and "synthetic failure" in r.error for r in rows)
    first, second = gaps(rows)
    assert 0.3 <= first <= 0.6 + 0.5  # half to all of 0.6 s (plus bookkeeping)
    assert 0.6 <= second <= 1.2 + 0.5  # half to all of 1.2 s
    with tenant_context(tenant.id):
        segment = db.session.scalar(select(ReportSegment).where(ReportSegment.collection_id == cid))
        assert (segment.status, segment.attempts) == ("failed", 3)


def test_retry_after_is_honoured(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, retry=True, max_attempts=2, backoff=0.05,
                    filters={"fail_dates": "2026-01-05", "fail_status": 429, "retry_after": 1.5})
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [r.status for r in rows] == ["retrying", "failed"] and "HTTP 429" in rows[0].error
    assert gaps(rows)[0] >= 1.5


class _Limited(BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 1 to the first request, then 200; 404 for /missing."""

    calls = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).calls += 1
        if "missing" in self.path or type(self).calls == 1:
            self.send_response(404 if "missing" in self.path else 429)
            self.send_header("Retry-After", "1")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"orders": 3}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def limited_server(app):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Limited)
    app.config["OUTBOUND_ALLOW"] = f"127.0.0.1:{server.server_port}"  # loopback is refused unless allowed
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Limited.calls = 0
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_an_http_429_with_retry_after_waits_that_long_then_completes(member, launch, run_jobs, limited_server):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, source="http_json", metric="value", retry=True, backoff=0.05,
                    filters={"url_template": limited_server + "/stats?from={start}", "timeout": 5})
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [r.status for r in rows] == ["retrying", "completed"] and "HTTP 429" in rows[0].error
    assert gaps(rows)[0] >= 1.0


def test_an_http_404_is_not_retried(member, launch, run_jobs, limited_server):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, source="http_json", metric="value", retry=True, backoff=0.05,
                    filters={"url_template": limited_server + "/missing?from={start}", "timeout": 5})
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [(r.attempt, r.status) for r in rows] == [(1, "failed")] and "HTTP 404" in rows[0].error
    assert _Limited.calls == 1


def test_a_404_is_not_retried(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, retry=True, max_attempts=3, backoff=0.05,
                    filters={"fail_dates": "2026-01-05", "fail_status": 404})
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [(r.attempt, r.status) for r in rows] == [(1, "failed")] and "HTTP 404" in rows[0].error


def test_a_segment_over_its_timeout_fails_that_attempt(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, timeout=0.5, filters={"seconds": 5})
    run_jobs("backfills")
    (row,) = attempts(tenant, cid)
    assert row.status == "failed" and "longer than its timeout" in row.error
    assert row.seconds < 3


def test_manual_retry_adds_attempts_with_a_fresh_budget(member, launch, run_jobs):
    tenant, user = member
    _, cid = launch(tenant, user, **ONE_WEEK, retry=True, max_attempts=2, backoff=0.05,
                    filters={"fail_dates": "2026-01-05"})
    run_jobs("backfills")
    with tenant_context(tenant.id):
        assert engine.rerun(service.get_collection(cid)) == 1
    run_jobs("backfills")
    rows = attempts(tenant, cid)
    assert [(r.attempt, r.status) for r in rows] == [(1, "retrying"), (2, "failed"), (3, "retrying"), (4, "failed")]


def test_parallel_limit_holds_per_report_across_its_runs(member, launch, workers, app):
    tenant, user = member
    # Two runs of one report, limit 2, four workers and extra slots: never more than 2 segments at once.
    wid, first = launch(tenant, user, segment="daily", start="2026-01-01", end="2026-01-08", limit=2,
                        filters={"seconds": 0.4})
    with tenant_context(tenant.id):
        workflow = service.get_workflow(wid)
        second = engine.create_collection(workflow, date(2026, 2, 1), date(2026, 2, 8), timezone="UTC",
                                          lookback=None, segmentation=workflow.parameters["segmentation"])
        db.session.flush()
        engine.launch(second)
        second = second.id
        engine.enqueue_slots(first, 2)
        engine.enqueue_slots(second, 2)
    workers.start(4)
    try:
        wait_for(lambda: _collection_status(tenant, first) == _collection_status(tenant, second) == "completed",
                 timeout=240)
    except AssertionError:
        with tenant_context(tenant.id):
            print("DEBUG", db.session.execute(db.text(
                "SELECT c.status, w.status, count(*) FROM report_data_weeks w JOIN report_data_collections c "
                "ON c.id = w.collection_id GROUP BY 1, 2")).all())
        from strata.core import queues
        print("DEBUG queue", queues.queue("backfills").count, queues.queue("backfills").failed_job_registry.count)
        raise
    with tenant_context(tenant.id):
        rows = db.session.execute(select(ReportSegment.started_at, ReportSegment.completed_at)
                                  .where(ReportSegment.collection_id.in_([first, second]))).all()
    assert len(rows) == 16 and max_overlap(rows) == 2
