"""A report's partitions: one period per segment of its segmentation, with the latest status across all its runs.

Like Dagster's partition view: each period (day, week or month in the tenant's timezone) shows
the status of its segment in the newest run that covered it, or *missing* when no run did. From
there a member fills the missing periods, retries the failed ones (in their runs: the attempts
go on counting) or backfills any range, clipped to the report's limits: no earlier than
1800-01-01, no later than the last day that has ended (today, when the report includes today
so far), at most ten years.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text

from strata.db import db
from strata.errors import ValidationError
from strata.reports import engine
from strata.reports.models import Collection, Workflow
from strata.reports.segmentation import MAX_WINDOW_DAYS, lookback_window, segments
from strata.reports.validation import FIRST_DATE

_LATEST_SQL = text("""
    SELECT DISTINCT ON (w.week_start) w.week_start, w.status, w.id, w.collection_id, w.attempts, w.error,
           w.is_partial
    FROM report_data_weeks w JOIN report_data_collections c ON c.id = w.collection_id
    WHERE c.workflow_id = :wid AND w.week_start BETWEEN :first AND :last
    ORDER BY w.week_start, c.created_at DESC, w.id DESC""")
_EXTENT_SQL = text("SELECT min(start_date), max(end_date) FROM report_data_collections WHERE workflow_id = :wid")


@dataclass(frozen=True)
class Partition:
    """One period of the report and its latest segment, if any."""

    start: date
    end: date
    status: str  # missing | pending | running | completed | failed | cancelled
    segment_id: int | None = None
    collection_id: object | None = None
    attempts: int = 0
    error: str | None = None
    partial: bool = False


def limits(workflow: Workflow, today: date) -> tuple[date, date]:
    """Return the first and last day any run of the report may cover."""
    include_today = bool(workflow.parameters.get("lookback", {}).get("includeToday"))
    return FIRST_DATE, today if include_today else today - timedelta(days=1)


def clip(workflow: Workflow, start: date, end: date, today: date) -> tuple[date, date]:
    """Return [start, end] clipped to the report's limits; raise ValidationError if nothing is left."""
    first, last = limits(workflow, today)
    start, end = max(start, first), min(end, last)
    if end < start:
        raise ValidationError.single("end_date", "range",
                                     f"Nothing to backfill: the range must reach a day that has ended (up to {last}).")
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        start = end - timedelta(days=MAX_WINDOW_DAYS - 1)
    return start, end


def default_range(workflow: Workflow, today: date) -> tuple[date, date]:
    """Return the range the view shows first: the report's lookback and every run's range."""
    start, end = lookback_window(workflow.parameters["lookback"], today)
    known = db.session.execute(_EXTENT_SQL, {"wid": workflow.id}).one()
    if known[0] is not None:
        start, end = min(start, known[0]), max(end, known[1])
    return clip(workflow, start, max(end, start), today)


def partitions(workflow: Workflow, start: date, end: date, timezone: str) -> list[Partition]:
    """Return every period of [start, end] with the latest status of its segment across all runs."""
    kind = workflow.parameters["segmentation"]["type"]
    periods = segments(start, end, kind, timezone)
    latest = {row.week_start: row for row in db.session.execute(
        _LATEST_SQL, {"wid": workflow.id, "first": start, "last": end})}
    found = []
    for period in periods:
        row = latest.get(period.start)
        found.append(Partition(period.start, period.end, "missing") if row is None else Partition(
            period.start, period.end, row.status, row.id, row.collection_id, row.attempts, row.error, row.is_partial))
    return found


def backfill(workflow: Workflow, start: date, end: date, *, timezone: str, today: date, user_id: int | None,
             only: set[date] | None = None) -> Collection | None:
    """Start a run of the report over [start, end] (clipped), or over its periods in `only`; None if empty."""
    start, end = clip(workflow, start, end, today)
    if only is not None:
        only = {day for day in only if start <= day <= end}
        if not only:
            return None
        start, end = min(only), end
    collection = engine.create_collection(
        workflow, start, end, timezone=timezone, lookback={"type": "custom", "startDate": start.isoformat(),
                                                           "endDate": end.isoformat()},
        segmentation=workflow.parameters["segmentation"], trigger="backfill", requested_by=user_id, only=only,
        today=today)
    engine.launch(collection)
    return collection


def fill_missing(workflow: Workflow, start: date, end: date, *, timezone: str, today: date,
                 user_id: int | None) -> Collection | None:
    """Start a run of only the periods of [start, end] no run has covered; None when none is missing."""
    start, end = clip(workflow, start, end, today)
    missing = {p.start for p in partitions(workflow, start, end, timezone) if p.status == "missing"}
    if not missing:
        return None
    return backfill(workflow, start, end, timezone=timezone, today=today, user_id=user_id, only=missing)


def retry_failed(workflow: Workflow, start: date, end: date, timezone: str) -> int:
    """Send the periods whose latest segment failed (or was cancelled) back to work in their runs; return how many."""
    by_run: dict[object, list[int]] = {}
    for part in partitions(workflow, start, end, timezone):
        if part.status in ("failed", "cancelled"):
            by_run.setdefault(part.collection_id, []).append(part.segment_id)
    queued = 0
    for collection_id, ids in by_run.items():
        queued += engine.rerun(db.session.get(Collection, collection_id), ids)
    return queued
