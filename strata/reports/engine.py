"""The backfill engine: segments claimed in a rolling window, run, retried and swept when orphaned.

A collection is worked by up to `parallel_limit` *slot* jobs on the `backfills` queue. A slot
claims the next pending segment, computes it, and in one statement (the tenant function
`report_segment_advance`, migrations t0007 and t0011) records the result and claims the next,
until none is left. The cap is enforced by the claim itself, not by the number of slots, and it
holds per report across all its runs: the function locks the report's row (so claims of one
report take turns), then, in a later statement that sees every committed claim, counts the
running segments of all the report's running collections and takes the next pending one (its own
collection's first, then the report's older runs') with `FOR UPDATE SKIP LOCKED` only while
fewer than `parallel_limit` run. A re-enqueued or duplicate slot can never push a report over its limit.

Every attempt is kept (`report_segment_attempts`). A failed attempt goes back to pending with a
back-off instant while its retry policy allows (`strata.reports.retries`); the slot waits for it
when the wait is short, and the sweep restarts a run whose waits are over. Tenants share the
backfill workers round-robin: a slot that has worked for `FAIR_QUANTUM_SECONDS` while other slot
jobs wait on the queue puts itself at the back of the queue.

While a segment runs, a heartbeat thread touches its row every few seconds; `sweep()` hands
segments whose heartbeat stopped (the worker died) back to the queue, far sooner than RQ's own
abandoned-job detection. A result is written only by the attempt that claimed the segment, and
it replaces the segment's data, so a rerun never doubles anything.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from strata import jobs
from strata.db import apply_scope, current_scope, db
from strata.reports import alerts, sources
from strata.reports.models import Collection, Workflow
from strata.reports.retries import MAX_ATTEMPTS, RetryPolicy, retryable  # noqa: F401  (MAX_ATTEMPTS re-exported)

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0
# A running collection with pending segments and nothing running gets new slots after this long;
# long enough that a busy queue (slots waiting their turn) does not pile up duplicates.
IDLE_AFTER_SECONDS = 600.0
SLOT_BUDGET_SECONDS = 600.0  # a slot hands over to a fresh job after this long, well inside the job timeout
INLINE_WAIT_SECONDS = 30.0  # a back-off this short is waited out by the slot; a longer one by the sweep
FAIR_QUANTUM_SECONDS = 1.0  # a slot yields its worker after this long when other slot jobs wait

_ADVANCE_SQL = text("""
    SELECT * FROM report_segment_advance(:cid, :worker, :claim, :done, :attempt, :status, CAST(:result AS jsonb),
                                         :error, :not_before)""")
_COUNTS_SQL = text("SELECT status, count(*) FROM report_data_weeks WHERE collection_id = :cid GROUP BY status")


@dataclass(frozen=True)
class Claimed:
    """A segment this slot now runs."""

    id: int
    collection_id: uuid.UUID
    start: date
    end: date
    period_start: datetime
    period_end: datetime
    attempt: int
    attempt_base: int = 0

    @property
    def budget_attempt(self) -> int:
        """Return this attempt's number within the current retry budget (1 for the first)."""
        return self.attempt - self.attempt_base


def derive_status(counts: dict[str, int]) -> str:
    """Return a collection's status from its segment counts by status."""
    total = sum(counts.values())
    if counts.get("pending", 0) or counts.get("running", 0):
        return "running"
    if total and counts.get("completed", 0) == total:
        return "completed"
    if counts.get("completed", 0) == 0:
        return "failed"
    return "partial"


def schedule_status(collection_status: str, counts: dict[str, int]) -> str:
    """Return the schedule's `backfill_status_enum` value for a collection."""
    if collection_status in ("pending",):
        return "pending"
    if collection_status == "running":
        return "in_progress"
    if collection_status == "cancelled":
        return "partial" if counts.get("completed") else "failed"
    return collection_status


def counts(collection_id: uuid.UUID) -> dict[str, int]:
    """Return the number of segments of the collection by status."""
    return dict(db.session.execute(_COUNTS_SQL, {"cid": collection_id}).all())


def enqueue_slots(collection_id: uuid.UUID, how_many: int) -> None:
    """Put `how_many` slot jobs for the collection on the backfills queue in one round trip (after committing)."""
    args = (current_scope().tenant_id, str(collection_id))
    jobs.enqueue_many("reports.run_slot", [args] * max(how_many, 0))


def launch(collection: Collection) -> None:
    """Mark the collection running, commit, and start up to `parallel_limit` slots."""
    found = counts(collection.id)
    pending = found.get("pending", 0)
    collection.status = "running" if pending else derive_status(found)
    collection.started_at = collection.started_at or db.session.scalar(text("SELECT clock_timestamp()"))
    _sync_schedule(collection, found)
    db.session.commit()
    enqueue_slots(collection.id, min(collection.parallel_limit, pending))


@dataclass(frozen=True)
class Outcome:
    """What one attempt of a segment came to, written together with the next claim."""

    segment_id: int
    attempt: int
    status: str  # completed | failed | pending (failed, retried after `not_before`)
    result: dict | None = None
    error: str | None = None
    not_before: datetime | None = None


def outcome_of(claimed: Claimed, policy: RetryPolicy, result: dict | Exception) -> Outcome:
    """Return the outcome of an attempt; a retryable failure goes back to pending, after its back-off,
    while the policy's budget lasts."""
    if not isinstance(result, Exception):
        return Outcome(claimed.id, claimed.attempt, "completed", result)
    message = (str(result) or type(result).__name__)[:2000]
    if retryable(result) and claimed.budget_attempt < policy.max_attempts:
        wait = policy.delay(claimed.budget_attempt, getattr(result, "retry_after", None))
        return Outcome(claimed.id, claimed.attempt, "pending", None, message,
                       datetime.now(UTC) + timedelta(seconds=wait))
    return Outcome(claimed.id, claimed.attempt, "failed", None, message)


def claim(collection_id: uuid.UUID, worker: str, done: Outcome | None = None, take: bool = True) -> Claimed | None:
    """Record `done` (if given) and claim the next pending segment of the report while it runs fewer than
    its limit, in one statement (function `report_segment_advance`); commit."""
    row = db.session.execute(_ADVANCE_SQL, {
        "cid": collection_id, "worker": worker[:200], "claim": take,
        "done": done and done.segment_id, "attempt": done and done.attempt, "status": done and done.status,
        "result": json.dumps(done.result) if done and done.result is not None else None,
        "error": done and done.error, "not_before": done and done.not_before}).first()
    db.session.commit()
    return Claimed(*row) if row is not None else None


def compute(data_source: str, parameters: dict, claimed: Claimed, timeout: float) -> dict | Exception:
    """Run the source on one segment within `timeout` seconds; return its series or the exception it raised."""
    source = sources.REGISTRY.get(data_source)
    deadline = time.monotonic() + timeout
    window = sources.Window(claimed.start, claimed.end, claimed.period_start, claimed.period_end, claimed.attempt,
                            deadline)
    try:
        if source is None:
            raise sources.SourceError(f"unknown data source {data_source!r}", retryable=False)
        # SQL sources are bounded by PostgreSQL itself; others watch the window's deadline.
        db.session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                           {"ms": str(max(int(timeout * 1000), 1))})
        series = {str(k): float(v) for k, v in source.compute(parameters, window).items()}
        if time.monotonic() > deadline:
            raise sources.SegmentTimeout(timeout)
        db.session.rollback()  # the source's reads only, and the statement timeout with them
        return series
    except Exception as exc:  # noqa: BLE001 — any failure is the segment's, recorded on it
        db.session.rollback()  # the source's reads only; the claim is committed
        if "canceling statement due to statement timeout" in str(exc):
            return sources.SegmentTimeout(timeout)
        return exc


class Heartbeat:
    """A thread that touches the running segment's heartbeat on its own connection."""

    def __init__(self, engine: Engine, every: float = HEARTBEAT_SECONDS):
        self.engine, self.every, self.segment_id = engine, every, None
        self.scope = current_scope()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="segment-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.every + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            segment_id = self.segment_id
            if segment_id is None:
                continue
            with self.engine.begin() as conn:
                apply_scope(conn, self.scope)
                conn.execute(text("UPDATE report_data_weeks SET heartbeat_at = clock_timestamp() "
                                  "WHERE id = :id AND status = 'running'"), {"id": segment_id})


_WAITING_SQL = text("""
    SELECT min(w.not_before) FROM report_data_weeks w JOIN report_data_collections c ON c.id = w.collection_id
    WHERE c.workflow_id = (SELECT workflow_id FROM report_data_collections WHERE id = :cid)
      AND c.status = 'running' AND w.status = 'pending' AND w.not_before IS NOT NULL""")


def _others_waiting() -> bool:
    """Return whether other slot jobs wait on the backfills queue (one Redis call)."""
    from strata.core import queues

    return queues.queue("backfills").count > 0


def run_slot(collection_id: uuid.UUID, worker: str, budget: float = SLOT_BUDGET_SECONDS) -> int:
    """Work segments of the report (its own collection's first) until none is left; return how many it ran.

    Waits out short back-offs; hands over to a fresh job at the end of its budget, and yields its
    worker (a fresh job at the back of the queue) after each fair quantum while others wait.
    """
    collection = db.session.get(Collection, collection_id)
    if collection is None or collection.finished:
        return 0
    workflow = db.session.get(Workflow, collection.workflow_id)
    # Plain values: the ORM objects expire at every commit and would be reloaded per segment.
    data_source, parameters = workflow.data_source, dict(workflow.parameters)
    policy = RetryPolicy.of(parameters.get("segmentation") or collection.segmentation_config)
    deadline, ran, touched = time.monotonic() + budget, 0, {collection_id}
    quantum_end = time.monotonic() + FAIR_QUANTUM_SECONDS
    db.session.commit()
    with Heartbeat(db.engine) as heart:
        claimed = claim(collection_id, worker)
        while True:
            if claimed is None:
                claimed = _after_wait(collection_id, worker, deadline)
                if claimed is None:
                    break
            touched.add(claimed.collection_id)
            heart.segment_id = claimed.id
            done = outcome_of(claimed, policy, compute(data_source, parameters, claimed, policy.timeout_seconds))
            heart.segment_id = None
            ran += 1
            now = time.monotonic()
            if now > deadline or (now > quantum_end and _others_waiting()):
                claim(collection_id, worker, done, take=False)
                enqueue_slots(collection_id, 1)
                return ran
            # One statement writes this result and claims the next segment.
            claimed = claim(collection_id, worker, done)
    for touched_id in touched:
        finalize(touched_id)
    return ran


def _after_wait(collection_id: uuid.UUID, worker: str, deadline: float) -> Claimed | None:
    """When only back-offs hold segments back, wait for the first one if it is near; return the next claim."""
    for _ in range(3):  # the database's clock may run a little behind ours
        waiting = db.session.scalar(_WAITING_SQL, {"cid": collection_id})
        db.session.commit()
        if waiting is None:
            return None
        seconds = (waiting - datetime.now(UTC)).total_seconds()
        if seconds > min(INLINE_WAIT_SECONDS, deadline - time.monotonic()):
            return None  # the sweep starts a slot once the wait is over
        time.sleep(max(seconds, 0) + 0.02)
        claimed = claim(collection_id, worker)
        if claimed is not None:
            return claimed
    return None  # the report is at its limit: the running slots take the rest


def finalize(collection_id: uuid.UUID) -> str | None:
    """Set the collection's derived status once nothing is pending or running; return it."""
    collection = db.session.get(Collection, collection_id, with_for_update=True, populate_existing=True)
    if collection is None:
        return None
    found = counts(collection_id)
    ended = collection.status == "running" and not found.get("pending") and not found.get("running")
    if ended:
        collection.status = derive_status(found)
        collection.completed_at = db.session.scalar(text("SELECT clock_timestamp()"))
        alerts.run_ended(collection, found)
    _sync_schedule(collection, found)
    db.session.commit()
    if ended:
        alerts.deliver()
        _start_waiting_runs(collection.workflow_id)
    return collection.status


def _start_waiting_runs(workflow_id: uuid.UUID) -> None:
    """Give slots to the report's running collections that have pending segments but nothing running.

    A run started while an older one held the report's limit got no segment; it starts now.
    """
    waiting = db.session.execute(text("""
        SELECT c.id, count(*) FROM report_data_collections c JOIN report_data_weeks w ON w.collection_id = c.id
        WHERE c.workflow_id = :wid AND c.status = 'running' AND w.status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM report_data_weeks r WHERE r.collection_id = c.id AND r.status = 'running')
        GROUP BY c.id"""), {"wid": workflow_id}).all()
    limit = db.session.scalar(text("SELECT (parameters->'segmentation'->>'parallel_limit')::int FROM workflows "
                                   "WHERE id = :wid"), {"wid": workflow_id}) or 1
    db.session.commit()
    for collection_id, pending in waiting:
        enqueue_slots(collection_id, min(limit, pending))


def _sync_schedule(collection: Collection, found: dict[str, int]) -> None:
    db.session.execute(text("""
        UPDATE workflow_schedules SET backfill_status = CAST(:status AS backfill_status_enum), updated_at = now()
        WHERE backfill_collection_id = :cid"""), {"cid": collection.id,
                                                  "status": schedule_status(collection.status, found)})


# --- creating, cancelling, retrying, sweeping ------------------------------------------------------------------------

def create_collection(workflow: Workflow, start: date, end: date, *, timezone: str, lookback: dict | None,
                      segmentation: dict, trigger: str = "manual", requested_by: int | None = None,
                      only: set[date] | None = None, today: date | None = None) -> Collection:
    """Add a pending collection for [start, end] with one segment row per segment (not committed).

    `only`: keep just the segments starting on these days; a segment reaching `today` is partial.
    """
    from sqlalchemy import insert

    from strata.reports.models import ReportSegment
    from strata.reports.segmentation import segments

    collection = Collection(workflow_id=workflow.id, start_date=start, end_date=end, timezone=timezone,
                            lookback_config=lookback, segmentation_config=segmentation, status="pending",
                            trigger=trigger, requested_by=requested_by)
    db.session.add(collection)
    db.session.flush()
    rows = [{"collection_id": collection.id, "week_start": s.start, "week_end": s.end,
             "period_start": s.period_start, "period_end": s.period_end,
             "is_partial": today is not None and s.end >= today}
            for s in segments(start, end, segmentation["type"], timezone) if only is None or s.start in only]
    if rows:
        db.session.execute(insert(ReportSegment), rows)
    return collection


def cancel(collection: Collection) -> None:
    """Stop the collection: pending segments are cancelled, running ones finish; commit."""
    if collection.finished:
        return
    db.session.execute(text("UPDATE report_data_weeks SET status = 'cancelled', updated_at = now() "
                            "WHERE collection_id = :cid AND status = 'pending'"), {"cid": collection.id})
    collection.status = "cancelled"
    collection.completed_at = db.session.scalar(text("SELECT clock_timestamp()"))
    _sync_schedule(collection, counts(collection.id))
    db.session.commit()


def rerun(collection: Collection, segment_ids: list[int] | None = None) -> int:
    """Send failed and cancelled segments (or the given ones, whatever their status) back to work.

    Their attempts go on counting, with a fresh retry budget; the collection runs again. Commits and
    starts slots; returns how many segments were queued.
    """
    queued = db.session.execute(_RERUN_SQL, {"cid": collection.id, "all": segment_ids is None,
                                             "ids": segment_ids or []}).rowcount
    if not queued:
        db.session.rollback()
        return 0
    collection.status, collection.completed_at = "running", None
    _sync_schedule(collection, counts(collection.id))
    db.session.commit()
    running = counts(collection.id).get("running", 0)
    enqueue_slots(collection.id, min(queued, max(collection.parallel_limit - running, 1)))
    return queued


_RERUN_SQL = text("""
    UPDATE report_data_weeks SET status = 'pending', attempt_base = attempts, not_before = NULL, error = NULL,
        completed_at = NULL, updated_at = now()
    WHERE collection_id = :cid AND ((:all AND status IN ('failed', 'cancelled'))
                                    OR (NOT :all AND id = ANY(:ids) AND status <> 'running'))""")
_STALE_SQL = text("""
    UPDATE report_data_weeks w SET status = 'pending', heartbeat_at = NULL, updated_at = now(),
        error = 'The worker stopped while computing this segment; it runs again.'
    FROM report_data_collections c
    WHERE w.collection_id = c.id AND c.status = 'running' AND w.status = 'running'
      AND w.heartbeat_at < clock_timestamp() - make_interval(secs => :stale)
    RETURNING w.collection_id""")
_ORPHANED_AFTER_CANCEL_SQL = text("""
    UPDATE report_data_weeks w SET status = 'cancelled', heartbeat_at = NULL, updated_at = now(),
        error = 'The worker stopped while computing this segment after the run was cancelled.'
    FROM report_data_collections c
    WHERE w.collection_id = c.id AND c.status = 'cancelled' AND w.status = 'running'
      AND w.heartbeat_at < clock_timestamp() - make_interval(secs => :stale)""")
_IDLE_SQL = text("""
    SELECT c.id FROM report_data_collections c
    WHERE c.status = 'running'
      AND NOT EXISTS (SELECT 1 FROM report_data_weeks w WHERE w.collection_id = c.id AND w.status = 'running')
      AND (SELECT max(w.updated_at) FROM report_data_weeks w WHERE w.collection_id = c.id)
          < clock_timestamp() - make_interval(secs => :idle)""")

_BACKOFF_OVER_SQL = text("""
    SELECT DISTINCT w.collection_id FROM report_data_weeks w JOIN report_data_collections c ON c.id = w.collection_id
    WHERE c.status = 'running' AND w.status = 'pending' AND w.not_before <= clock_timestamp()
      AND NOT EXISTS (SELECT 1 FROM report_data_weeks r WHERE r.collection_id = c.id AND r.status = 'running')""")
_LOST_ATTEMPTS_SQL = text("""
    UPDATE report_segment_attempts a SET status = 'lost', ended_at = clock_timestamp(),
        error = 'The worker stopped during this attempt.'
    FROM report_data_weeks w
    WHERE a.segment_id = w.id AND a.status = 'running' AND (w.status <> 'running' OR w.attempts <> a.attempt)""")


def sweep(stale_after: float = STALE_AFTER_SECONDS, idle_after: float = IDLE_AFTER_SECONDS) -> dict[str, int]:
    """Requeue segments whose heartbeat stopped and restart collections nobody works; commit.

    Returns {"segments": requeued, "collections": restarted}.
    """
    orphaned = [row[0] for row in db.session.execute(_STALE_SQL, {"stale": stale_after})]
    idle = [row[0] for row in db.session.execute(_IDLE_SQL, {"idle": idle_after})]
    waited = [row[0] for row in db.session.execute(_BACKOFF_OVER_SQL)]
    db.session.execute(_ORPHANED_AFTER_CANCEL_SQL, {"stale": stale_after})
    db.session.execute(_LOST_ATTEMPTS_SQL)
    db.session.commit()
    restart = set(orphaned) | set(idle) | set(waited)
    for collection_id in restart:
        collection = db.session.get(Collection, collection_id)
        pending = counts(collection_id).get("pending", 0)
        if pending:
            enqueue_slots(collection_id, min(collection.parallel_limit, pending))
        else:
            finalize(collection_id)
    return {"segments": len(orphaned), "collections": len(restart)}
