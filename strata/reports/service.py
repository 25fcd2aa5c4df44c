"""Workflows, their schedules and runs: create from the wizard, run now, pause, resume, tick.

Functions add to the session's transaction; `engine.launch` commits before it enqueues, so a
worker never looks for rows that are not committed yet.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from strata import csvfiles
from strata.db import current_scope, db
from strata.errors import NotFound
from strata.reports import engine, schedules, validation
from strata.reports.models import BuilderAudit, Collection, ReportSegment, Schedule, SegmentAttempt, Workflow
from strata.reports.segmentation import lookback_window


def tenant_timezone() -> str:
    """Return the current tenant's IANA timezone."""
    from strata.tenancy.models import Tenant

    return db.session.scalar(select(Tenant.timezone).where(Tenant.id == current_scope().tenant_id)) or "UTC"


def _uuid(value: str | uuid.UUID) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no such id {value!r}") from None


def get_workflow(workflow_id: str | uuid.UUID) -> Workflow:
    """Return the workflow; raise NotFound (also for another tenant's or a malformed id)."""
    found = db.session.get(Workflow, _uuid(workflow_id))
    if found is None:
        raise NotFound(f"no workflow {workflow_id}")
    return found


def get_collection(collection_id: str | uuid.UUID) -> Collection:
    """Return the collection; raise NotFound."""
    found = db.session.get(Collection, _uuid(collection_id))
    if found is None:
        raise NotFound(f"no collection {collection_id}")
    return found


def get_segment(collection: Collection, segment_id: int) -> ReportSegment:
    """Return the collection's segment; raise NotFound (also for a segment of another run)."""
    found = db.session.get(ReportSegment, segment_id)
    if found is None or found.collection_id != collection.id:
        raise NotFound(f"no segment {segment_id} in this run")
    return found


def clock() -> datetime:
    """Return the database's current instant (progress polls ask for changes since it)."""
    return db.session.scalar(text("SELECT clock_timestamp()"))


def segments_changed(collection: Collection, since: datetime) -> list[ReportSegment]:
    """Return the collection's segments updated after `since`, less a second for writes committed just after it
    (a result is written and committed in one short statement)."""
    return list(db.session.scalars(
        select(ReportSegment).where(ReportSegment.collection_id == collection.id,
                                    ReportSegment.updated_at > since - timedelta(seconds=1))
        .order_by(ReportSegment.week_start)))


def attempts_of(segment: ReportSegment) -> list[SegmentAttempt]:
    """Return every attempt of the segment, first to last."""
    return list(db.session.scalars(select(SegmentAttempt).where(SegmentAttempt.segment_id == segment.id)
                                   .order_by(SegmentAttempt.attempt)))


def schedule_of(workflow: Workflow) -> Schedule:
    """Return the workflow's schedule row."""
    return db.session.scalar(select(Schedule).where(Schedule.workflow_id == workflow.id))


def record_step(user_id: int | None, step: str, configuration: dict, workflow_id: uuid.UUID | None = None) -> None:
    """Add one `report_builder_audit` row for a completed wizard step."""
    db.session.add(BuilderAudit(user_id=user_id, step_completed=step, configuration=configuration,
                                workflow_id=workflow_id))


def start_run(workflow: Workflow, *, as_of: date, trigger: str, requested_by: int | None) -> Collection:
    """Add a collection of the workflow's lookback window relative to `as_of` (not launched)."""
    look, seg = workflow.parameters["lookback"], workflow.parameters["segmentation"]
    start, end = lookback_window(look, as_of)
    validation.window_is_sane(start, end)
    collection = engine.create_collection(workflow, start, end, timezone=tenant_timezone(), lookback=look,
                                          segmentation=seg, trigger=trigger, requested_by=requested_by, today=as_of)
    schedule = schedule_of(workflow)
    if schedule is not None:
        schedule.backfill_collection_id, schedule.backfill_status = collection.id, "pending"
    return collection


def today() -> date:
    """Return today's date in the tenant's timezone."""
    return datetime.now(UTC).astimezone(ZoneInfo(tenant_timezone())).date()


def create_report(config: dict, user_id: int | None) -> tuple[Workflow, Collection]:
    """Create the workflow, its schedule and its first collection from a validated wizard config."""
    workflow = Workflow(name=config["name"], data_source=config["data_source"], created_by=user_id,
                        parameters={**config["parameters"], "lookback": config["lookback_config"],
                                    "segmentation": config["segmentation_config"]})
    db.session.add(workflow)
    db.session.flush()
    schedule_config = config.get("schedule_config") or {"frequency": "none"}
    db.session.add(Schedule(workflow_id=workflow.id, schedule_config=schedule_config,
                            is_active=schedule_config["frequency"] != "none",
                            next_run_at=schedules.next_run(schedule_config, datetime.now(UTC))))
    db.session.flush()
    collection = start_run(workflow, as_of=today(), trigger="manual", requested_by=user_id)
    return workflow, collection


def run_now(workflow: Workflow, user_id: int | None) -> Collection:
    """Start a new collection of the workflow for today's lookback window; commit and enqueue."""
    collection = start_run(workflow, as_of=today(), trigger="manual", requested_by=user_id)
    engine.launch(collection)
    return collection


def set_schedule(workflow: Workflow, raw: dict) -> Schedule:
    """Replace the workflow's schedule from form input; next run recomputed from its timezone."""
    config = validation.schedule(raw, tenant_timezone())
    schedule = schedule_of(workflow)
    schedule.schedule_config = config
    schedule.is_active = config["frequency"] != "none"
    schedule.next_run_at = schedules.next_run(config, datetime.now(UTC))
    return schedule


def set_active(workflow: Workflow, active: bool) -> Schedule:
    """Pause or resume the schedule; resuming computes the next run from now (no catch-up)."""
    schedule = schedule_of(workflow)
    if schedule.frequency == "none":
        from strata.errors import ValidationError

        raise ValidationError.single("frequency", "required", "This report has no schedule to pause or resume.")
    schedule.is_active = active
    schedule.next_run_at = schedules.next_run(schedule.schedule_config, datetime.now(UTC)) if active else None
    return schedule


_DUE_SQL = select(Schedule).where(Schedule.is_active) \
    .order_by(Schedule.next_run_at).limit(50).with_for_update(skip_locked=True)


def tick(now: datetime | None = None) -> int:
    """Start one collection for every due schedule of the tenant; return how many started.

    Due schedules are claimed with FOR UPDATE SKIP LOCKED, so overlapping ticks never start the
    same run twice. After downtime a schedule runs once, for its latest missed slot; with catch-up
    it runs for every missed slot, at most `maxCatchUp` (the most recent ones; slots whose windows
    are the same tenant days run once). Its next run is the first slot after now.
    """
    now = now or datetime.now(UTC)
    started = []
    zone = ZoneInfo(tenant_timezone())
    for schedule in db.session.scalars(_DUE_SQL.where(Schedule.next_run_at <= now)):
        config = schedule.schedule_config
        keep = int(config.get("maxCatchUp") or 1) if config.get("catchUp") else 1
        slots = schedules.due_slots(config, schedule.next_run_at, now, keep) or [schedule.next_run_at]
        workflow = db.session.get(Workflow, schedule.workflow_id)
        # The window is made of the tenant's days that had ended at the slot, whatever the schedule's zone.
        for as_of in sorted({run_at.astimezone(zone).date() for run_at in slots}):
            started.append(start_run(workflow, as_of=as_of, trigger="schedule", requested_by=None))
        schedule.last_run_at, schedule.next_run_at = now, schedules.next_run(config, now)
    db.session.flush()
    db.session.commit()
    for collection in started:
        engine.launch(collection)
    return len(started)


@dataclass
class WorkflowRow:
    workflow: Workflow
    schedule: Schedule | None
    latest: Collection | None


def list_workflows() -> list[WorkflowRow]:
    """Return every workflow with its schedule and latest collection, newest first."""
    latest = select(Collection.workflow_id, func.max(Collection.created_at).label("at")) \
        .group_by(Collection.workflow_id).subquery()
    rows = db.session.execute(
        select(Workflow, Schedule, Collection)
        .outerjoin(Schedule, Schedule.workflow_id == Workflow.id)
        .outerjoin(latest, latest.c.workflow_id == Workflow.id)
        .outerjoin(Collection, (Collection.workflow_id == Workflow.id) & (Collection.created_at == latest.c.at))
        .order_by(Workflow.created_at.desc()))
    return [WorkflowRow(*row) for row in rows]


def collections_of(workflow: Workflow, limit: int = 20) -> list[Collection]:
    """Return the workflow's latest collections, newest first."""
    return list(db.session.scalars(select(Collection).where(Collection.workflow_id == workflow.id)
                                   .order_by(Collection.created_at.desc()).limit(limit)))


def segments_of(collection: Collection) -> list[ReportSegment]:
    """Return the collection's segments in date order."""
    return list(db.session.scalars(select(ReportSegment).where(ReportSegment.collection_id == collection.id)
                                   .order_by(ReportSegment.week_start)))


def results(collection: Collection) -> tuple[list[str], list[tuple[ReportSegment, list[float | None]]]]:
    """Return the series names and, per segment, its values in that order (None: not computed)."""
    segs = segments_of(collection)
    names: list[str] = []
    for seg in segs:
        for key in (seg.result_data or {}):
            if key not in names:
                names.append(key)
    return names, [(seg, [(seg.result_data or {}).get(n) if seg.status == "completed" else None for n in names])
                   for seg in segs]


def results_csv(collection: Collection) -> str:
    """Return the collection's results as CSV: one row per segment, one column per series."""
    names, rows = results(collection)
    out = io.StringIO()
    writer = csvfiles.writer(out)  # a series name could start like a spreadsheet formula
    writer.writerow(["segment_start", "segment_end", "status", *names])
    for seg, values in rows:
        writer.writerow([seg.week_start.isoformat(), seg.week_end.isoformat(), seg.status,
                         *["" if v is None else (int(v) if float(v).is_integer() else v) for v in values]])
    return out.getvalue()


def average_segment_seconds(data_source: str) -> float | None:
    """Return the mean run time of this source's completed segments in the tenant, if any."""
    return db.session.scalar(text("""
        SELECT avg(extract(epoch FROM w.completed_at - w.started_at)) FROM report_data_weeks w
        JOIN report_data_collections c ON c.id = w.collection_id JOIN workflows f ON f.id = c.workflow_id
        WHERE f.data_source = :source AND w.status = 'completed'"""), {"source": data_source})
