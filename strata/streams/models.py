"""Stream configuration and the events log (tenant schema); mirrors migration `t0005_streams`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import db

# Stream type (the `resource_kind` its events carry) → path under the base URL.
STREAM_PATHS: dict[str, str] = {
    "company-profile": "/companies",
    "filing-history": "/filings",
    "company-officers": "/officers",
    "company-psc-individual": "/persons-with-significant-control",
    "company-charges": "/charges",
    "company-insolvency": "/insolvency-cases",
    "disqualified-officer-natural": "/disqualified-officers",
    "company-exemptions": "/company-exemptions",
    "company-psc-statement": "/persons-with-significant-control-statements",
}
STREAM_LABELS: dict[str, str] = {
    "company-profile": "Company profiles",
    "filing-history": "Filing history",
    "company-officers": "Officers",
    "company-psc-individual": "Persons with significant control",
    "company-charges": "Charges",
    "company-insolvency": "Insolvency cases",
    "disqualified-officer-natural": "Disqualified officers",
    "company-exemptions": "Company exemptions",
    "company-psc-statement": "PSC statements",
}
CONNECTION_STATUSES = ("connected", "disconnected", "error")
PROCESSING_STATUSES = ("pending", "processed", "failed")
EVENT_TYPES = ("changed", "deleted", "malformed")


class StreamMetadata(db.Model):
    """One configured stream of a tenant: where it reads, its checkpoint and its connection state."""

    __tablename__ = "stream_metadata"

    id: Mapped[int] = mapped_column(primary_key=True)
    stream_type: Mapped[str] = mapped_column(Text, unique=True)
    base_url: Mapped[str] = mapped_column(Text)
    stream_key: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    track_all: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    stall_after_seconds: Mapped[int] = mapped_column(Integer, default=600, server_default="600")
    last_event_id: Mapped[str | None] = mapped_column(Text)
    last_timepoint: Mapped[int | None] = mapped_column(BigInteger)
    last_processed_timestamp: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_published_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connection_status: Mapped[str] = mapped_column(Text, default="disconnected", server_default="disconnected")
    resync_needed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Kept by triggers on stream_events_log (migration t0008): the dashboard never counts the log.
    events_logged: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    @property
    def label(self) -> str:
        return STREAM_LABELS.get(self.stream_type, self.stream_type)

    @property
    def url(self) -> str:
        """The full stream URL, without a timepoint."""
        return self.base_url.rstrip("/") + STREAM_PATHS[self.stream_type]


class StreamEvent(db.Model):
    """One line received from a stream: the event, or a malformed line, and how processing went."""

    __tablename__ = "stream_events_log"
    __table_args__ = (UniqueConstraint("stream_id", "event_id", name="uq_stream_events_log_stream_event"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("stream_metadata.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(Text)
    timepoint: Mapped[int | None] = mapped_column(BigInteger)
    resource_kind: Mapped[str | None] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(Text)
    company_number: Mapped[str | None] = mapped_column(Text)
    event_data: Mapped[Any] = mapped_column(JSONB, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    processing_status: Mapped[str] = mapped_column(Text, default="pending", server_default="pending")
    error_message: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("idx_stream_events_company", StreamEvent.company_number)
Index("idx_stream_events_failed", StreamEvent.stream_id, postgresql_where=text("processing_status = 'failed'"))
Index("idx_stream_events_received", StreamEvent.received_at)
Index("idx_stream_events_status", StreamEvent.processing_status)
Index("idx_stream_events_stream_timepoint", StreamEvent.stream_id, StreamEvent.timepoint)
Index("idx_stream_events_type", StreamEvent.event_type)
