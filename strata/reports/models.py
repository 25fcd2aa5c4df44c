"""Saved reports, their collections and segments, schedules and the wizard's audit (tenant schema).

Mirrors migration `t0007_reports` (seed 004). `ReportSegment` maps `report_data_weeks`: one row
per segment of a collection, daily, weekly or monthly.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import TimestampMixin, db

BACKFILL_STATUSES = ("pending", "in_progress", "completed", "failed", "partial")
COLLECTION_STATUSES = ("pending", "running", "completed", "failed", "partial", "cancelled")
SEGMENT_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FINISHED = frozenset({"completed", "failed", "partial", "cancelled"})
STEPS = ("parameters", "schedule", "review", "submit")

backfill_status_enum = ENUM(*BACKFILL_STATUSES, name="backfill_status_enum", create_type=False)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _user_fk(ondelete: str = "SET NULL") -> Mapped[int | None]:
    return mapped_column(ForeignKey("public.users.id", ondelete=ondelete))


class Workflow(TimestampMixin, db.Model):
    """A saved report: its name, data source and the source's parameters."""

    __tablename__ = "workflows"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    data_source: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[int | None] = _user_fk()


class Collection(TimestampMixin, db.Model):
    """One run of a workflow over a date range, split into segments."""

    __tablename__ = "report_data_collections"

    id: Mapped[uuid.UUID] = _uuid_pk()
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    lookback_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    segmentation_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    requested_by: Mapped[int | None] = _user_fk()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def parallel_limit(self) -> int:
        return int((self.segmentation_config or {}).get("parallel_limit", 1))

    @property
    def retry_failed(self) -> bool:
        return bool((self.segmentation_config or {}).get("retry_failed", False))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class ReportSegment(TimestampMixin, db.Model):
    """One segment of a collection: its local dates, UTC instants, status, attempts and result."""

    __tablename__ = "report_data_weeks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_data_collections.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    week_end: Mapped[date] = mapped_column(Date)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int | None] = mapped_column(Integer)
    result_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempt_base: Mapped[int] = mapped_column(Integer, default=0)
    is_partial: Mapped[bool] = mapped_column(Boolean, default=False)


class SegmentAttempt(db.Model):
    """One attempt of a segment: who ran it, when, and how it ended (migration t0011)."""

    __tablename__ = "report_segment_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("report_data_weeks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # running | completed | failed | retrying | lost
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def seconds(self) -> float | None:
        """Return how long the attempt ran, None while it runs."""
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


class Notification(db.Model):
    """An in-app alert to a report's owner: a run failed or ended partial, or its schedule was paused."""

    __tablename__ = "report_notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("public.users.id", ondelete="CASCADE"))
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_data_collections.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Schedule(TimestampMixin, db.Model):
    """When a workflow runs again, and the status of its latest backfill."""

    __tablename__ = "workflow_schedules"

    id: Mapped[uuid.UUID] = _uuid_pk()
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), unique=True)
    schedule_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    backfill_status: Mapped[str | None] = mapped_column(backfill_status_enum)
    backfill_collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("report_data_collections.id", ondelete="SET NULL"))

    @property
    def frequency(self) -> str:
        return (self.schedule_config or {}).get("frequency", "none")


class BuilderAudit(db.Model):
    """One completed wizard step with the full configuration at that moment."""

    __tablename__ = "report_builder_audit"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[int | None] = _user_fk("CASCADE")
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("workflows.id", ondelete="SET NULL"))
    step_completed: Mapped[str] = mapped_column(Text)
    configuration: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=True)


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("idx_builder_audit_user", BuilderAudit.user_id, BuilderAudit.created_at.desc())
Index("idx_collections_lookback", Collection.lookback_config, postgresql_using="gin")
Index("ix_report_data_collections_workflow", Collection.workflow_id, Collection.created_at)
Index("ix_report_data_collections_workflow_status", Collection.workflow_id, Collection.status)
Index("idx_collection_progress", ReportSegment.collection_id, ReportSegment.status, ReportSegment.week_start)
Index("idx_data_weeks_date_range", ReportSegment.week_start, ReportSegment.week_end)
Index("ix_report_data_weeks_not_before", ReportSegment.not_before,
      postgresql_where=text("status = 'pending' AND not_before IS NOT NULL"))
Index("ix_report_data_weeks_running_heartbeat", ReportSegment.heartbeat_at,
      postgresql_where=text("status = 'running'"))
ReportSegment.__table__.append_constraint(
    UniqueConstraint("collection_id", "week_start", name="uq_report_data_weeks_collection_start"))
Index("ix_report_notifications_user", Notification.user_id, Notification.created_at.desc())
Index("ix_report_segment_attempts_running", SegmentAttempt.segment_id,
      postgresql_where=text("status = 'running'"))
SegmentAttempt.__table__.append_constraint(
    UniqueConstraint("segment_id", "attempt", name="uq_report_segment_attempts_segment_attempt"))
Index("idx_schedules_backfill", Schedule.backfill_status, Schedule.backfill_collection_id,
      postgresql_where=text("backfill_status IS NOT NULL"))
Index("ix_workflow_schedules_due", Schedule.next_run_at, postgresql_where=text("is_active"))
Index("ix_workflows_name", Workflow.name)
