"""Saved reports, their collections and segments, schedules and the wizard's audit (tenant schema).

Mirrors migration `t0007_reports` (seed 004). `ReportSegment` maps `report_data_weeks`: one row
per segment of a collection, daily, weekly or monthly.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Identity, Integer, String, Text, func
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
