"""The backfill engine: segments claimed in a rolling window, run, retried and swept when orphaned.

A collection is worked by up to `parallel_limit` *slot* jobs on the `backfills` queue. A slot
claims the next pending segment, computes it, and in one statement (the tenant function
`report_segment_advance`, migration t0007) records the result and claims the next, until none
is left. The cap is enforced by the claim itself, not by the number of slots: the function locks
the collection row (so claims of one collection take turns), then, in a later statement that
sees every committed claim, counts the running segments and takes the next pending one with
`FOR UPDATE SKIP LOCKED` only while fewer than `parallel_limit` run. A re-enqueued or duplicate
slot can therefore never push a collection over its limit.

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
from datetime import date, datetime

from sqlalchemy import Engine, text

from strata import jobs
from strata.db import apply_scope, current_scope, db
from strata.reports import sources
from strata.reports.models import Collection, Workflow

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0
# A running collection with pending segments and nothing running gets new slots after this long;
# long enough that a busy queue (slots waiting their turn) does not pile up duplicates.
IDLE_AFTER_SECONDS = 600.0
MAX_ATTEMPTS = 3
SLOT_BUDGET_SECONDS = 600.0  # a slot hands over to a fresh job after this long, well inside the job timeout

_ADVANCE_SQL = text("""
    SELECT * FROM report_segment_advance(:cid, :worker, CAST(:skip AS bigint[]), :claim, :done, :attempt, :status,
                                         CAST(:result AS jsonb), :error)""")
_COUNTS_SQL = text("SELECT status, count(*) FROM report_data_weeks WHERE collection_id = :cid GROUP BY status")


@dataclass(frozen=True)
class Claimed:
    """A segment this slot now runs."""

    id: int
    start: date
    end: date
    period_start: datetime
    period_end: datetime
    attempt: int


class SegmentsToRetry(Exception):
    """Some segments of this slot failed and went back to pending; RQ's Retry runs the slot again."""


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
    status: str  # completed | failed | pending (failed, retried)
    result: dict | None = None
    error: str | None = None


def outcome_of(claimed: Claimed, retry: bool, result: dict | Exception) -> Outcome:
    """Return the outcome of an attempt; a failure goes back to pending while retries remain."""
    if isinstance(result, Exception):
        back = retry and claimed.attempt < MAX_ATTEMPTS
        message = (str(result) or type(result).__name__)[:2000]
        return Outcome(claimed.id, claimed.attempt, "pending" if back else "failed", None, message)
    return Outcome(claimed.id, claimed.attempt, "completed", result)


def claim(collection_id: uuid.UUID, worker: str, skip: list[int], done: Outcome | None = None,
          take: bool = True) -> Claimed | None:
    """Record `done` (if given) and claim the next pending segment while the collection runs fewer
    than its limit, in one statement (function `report_segment_advance`); commit."""
    row = db.session.execute(_ADVANCE_SQL, {
        "cid": collection_id, "worker": worker[:200], "skip": skip, "claim": take,
        "done": done and done.segment_id, "attempt": done and done.attempt, "status": done and done.status,
        "result": json.dumps(done.result) if done and done.result is not None else None,
        "error": done and done.error}).first()
    db.session.commit()
    return Claimed(*row) if row is not None else None


def compute(data_source: str, parameters: dict, claimed: Claimed) -> dict | Exception:
    """Run the source on one segment; return its series or the exception it raised."""
    source = sources.REGISTRY.get(data_source)
    window = sources.Window(claimed.start, claimed.end, claimed.period_start, claimed.period_end, claimed.attempt)
    try:
        if source is None:
            raise sources.SourceError(f"unknown data source {data_source!r}")
        return {str(k): float(v) for k, v in source.compute(parameters, window).items()}
    except Exception as exc:  # noqa: BLE001 — any failure is the segment's, recorded on it
        db.session.rollback()  # the source's reads only; the claim is committed
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


def run_slot(collection_id: uuid.UUID, worker: str, last_try: bool = True,
             budget: float = SLOT_BUDGET_SECONDS) -> int:
    """Work segments of the collection until none is left; return how many this slot ran.

    Raises SegmentsToRetry when segments failed and went back to pending (unless `last_try`).
    """
    collection = db.session.get(Collection, collection_id)
    if collection is None or collection.finished:
        return 0
    workflow = db.session.get(Workflow, collection.workflow_id)
    # Plain values: the ORM objects expire at every commit and would be reloaded per segment.
    data_source, parameters = workflow.data_source, dict(workflow.parameters)
    retry = collection.retry_failed and not last_try
    deadline, ran, returned = time.monotonic() + budget, 0, []
    db.session.commit()
    with Heartbeat(db.engine) as heart:
        claimed = claim(collection_id, worker, returned)
        while claimed is not None:
            heart.segment_id = claimed.id
            done = outcome_of(claimed, retry, compute(data_source, parameters, claimed))
            heart.segment_id = None
            if done.status == "pending":
                returned.append(claimed.id)
            ran += 1
            if time.monotonic() > deadline:
                claim(collection_id, worker, returned, done, take=False)
                enqueue_slots(collection_id, 1)
                return ran
            # One statement writes this result and claims the next segment.
            claimed = claim(collection_id, worker, returned, done)
    finalize(collection_id)
    if returned:
        raise SegmentsToRetry(f"{len(returned)} segment(s) failed and will be retried")
    return ran


def finalize(collection_id: uuid.UUID) -> str | None:
    """Set the collection's derived status once nothing is pending or running; return it."""
    collection = db.session.get(Collection, collection_id, with_for_update=True, populate_existing=True)
    if collection is None:
        return None
    found = counts(collection_id)
    if collection.status == "running" and not found.get("pending") and not found.get("running"):
        collection.status = derive_status(found)
        collection.completed_at = db.session.scalar(text("SELECT clock_timestamp()"))
    _sync_schedule(collection, found)
    db.session.commit()
    return collection.status


def _sync_schedule(collection: Collection, found: dict[str, int]) -> None:
    db.session.execute(text("""
        UPDATE workflow_schedules SET backfill_status = CAST(:status AS backfill_status_enum), updated_at = now()
        WHERE backfill_collection_id = :cid"""), {"cid": collection.id,
                                                  "status": schedule_status(collection.status, found)})


# --- creating, cancelling, retrying, sweeping ------------------------------------------------------------------------

def create_collection(workflow: Workflow, start: date, end: date, *, timezone: str, lookback: dict | None,
                      segmentation: dict, trigger: str = "manual", requested_by: int | None = None) -> Collection:
    """Add a pending collection for [start, end] with one segment row per segment (not committed)."""
    from sqlalchemy import insert

    from strata.reports.models import ReportSegment
    from strata.reports.segmentation import segments

    collection = Collection(workflow_id=workflow.id, start_date=start, end_date=end, timezone=timezone,
                            lookback_config=lookback, segmentation_config=segmentation, status="pending",
                            trigger=trigger, requested_by=requested_by)
    db.session.add(collection)
    db.session.flush()
    rows = [{"collection_id": collection.id, "week_start": s.start, "week_end": s.end,
             "period_start": s.period_start, "period_end": s.period_end}
            for s in segments(start, end, segmentation["type"], timezone)]
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

    Their attempts start again; the collection runs again. Commits and starts slots; returns how
    many segments were queued.
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
    UPDATE report_data_weeks SET status = 'pending', attempts = 0, error = NULL, completed_at = NULL,
        updated_at = now()
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


def sweep(stale_after: float = STALE_AFTER_SECONDS, idle_after: float = IDLE_AFTER_SECONDS) -> dict[str, int]:
    """Requeue segments whose heartbeat stopped and restart collections nobody works; commit.

    Returns {"segments": requeued, "collections": restarted}.
    """
    orphaned = [row[0] for row in db.session.execute(_STALE_SQL, {"stale": stale_after})]
    idle = [row[0] for row in db.session.execute(_IDLE_SQL, {"idle": idle_after})]
    db.session.execute(_ORPHANED_AFTER_CANCEL_SQL, {"stale": stale_after})
    db.session.commit()
    restart = set(orphaned) | set(idle)
    for collection_id in restart:
        collection = db.session.get(Collection, collection_id)
        pending = counts(collection_id).get("pending", 0)
        if pending:
            enqueue_slots(collection_id, min(collection.parallel_limit, pending))
        else:
            finalize(collection_id)
    return {"segments": len(orphaned), "collections": len(restart)}
