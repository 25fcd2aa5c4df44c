"""Companies House streams: stream_metadata, stream_events_log and the stream columns on companies (seed 002).

Revision ID: t0005_streams
Revises: t0004_things
Create Date: 2026-11-22

The seed's SQLite TEXT timestamps become timestamptz, its JSON blob JSONB. stream_metadata
gains what a running consumer needs (base URL, key, enabled, the last timepoint as a number);
stream_events_log is unique per (stream, event id) and keeps the timepoint as a number too.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t0005_streams"
down_revision = "t0004_things"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
COMPANY_COLUMNS = (
    ("stream_last_updated", TS, {}),
    ("stream_event_id", sa.Text, {}),
    ("stream_event_type", sa.Text, {}),
    ("stream_processing_status", sa.Text, {"server_default": "pending"}),
    ("stream_timepoint", sa.BigInteger, {}),
    ("stream_published_at", sa.DateTime, {}),
    ("company_status", sa.String(50), {}),
    ("company_type", sa.String(80), {}),
    ("jurisdiction", sa.String(50), {}),
    ("date_of_creation", sa.Date, {}),
    ("date_of_cessation", sa.Date, {}),
    ("registered_office_address", JSONB, {}),
    ("sic_codes", JSONB, {}),
    ("accounts", JSONB, {}),
    ("etag", sa.String(80), {}),
)


def _stream_metadata() -> None:
    op.create_table(
        "stream_metadata",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("stream_type", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("stream_key", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("track_all", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stall_after_seconds", sa.Integer, nullable=False, server_default="600"),
        sa.Column("last_event_id", sa.Text),
        sa.Column("last_timepoint", sa.BigInteger),
        sa.Column("last_processed_timestamp", TS),
        sa.Column("last_published_at", sa.DateTime),
        sa.Column("last_event_at", TS),
        sa.Column("connection_status", sa.Text, nullable=False, server_default="disconnected"),
        sa.Column("resync_needed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_stream_metadata"),
        sa.UniqueConstraint("stream_type", name="uq_stream_metadata_stream_type"),
        sa.CheckConstraint("connection_status IN ('connected', 'disconnected', 'error')",
                           name="ck_stream_metadata_connection_status"),
        sa.CheckConstraint("last_timepoint IS NULL OR last_timepoint > 0", name="ck_stream_metadata_timepoint"),
    )


def _stream_events_log() -> None:
    op.create_table(
        "stream_events_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("stream_id", sa.Integer, sa.ForeignKey("stream_metadata.id", ondelete="CASCADE",
                                                        name="fk_stream_events_log_stream_id_stream_metadata"),
                  nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("timepoint", sa.BigInteger),
        sa.Column("resource_kind", sa.Text),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("company_number", sa.Text),
        sa.Column("event_data", JSONB),
        sa.Column("published_at", sa.DateTime),
        sa.Column("processing_status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("error_message", sa.Text),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("processed_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_stream_events_log"),
        sa.UniqueConstraint("stream_id", "event_id", name="uq_stream_events_log_stream_event"),
        sa.CheckConstraint("processing_status IN ('pending', 'processed', 'failed')",
                           name="ck_stream_events_log_processing_status"),
    )
    op.create_index("idx_stream_events_company", "stream_events_log", ["company_number"])
    op.create_index("idx_stream_events_type", "stream_events_log", ["event_type"])
    op.create_index("idx_stream_events_status", "stream_events_log", ["processing_status"])
    op.create_index("idx_stream_events_received", "stream_events_log", ["received_at"])
    op.create_index("idx_stream_events_stream_timepoint", "stream_events_log", ["stream_id", "timepoint"])


def upgrade() -> None:
    for name, type_, kw in COMPANY_COLUMNS:
        op.add_column("companies", sa.Column(name, type_, **kw))
    op.create_check_constraint(
        "ck_companies_stream_processing_status", "companies",
        "stream_processing_status IN ('pending', 'processed', 'failed')")
    op.create_index("idx_companies_stream_status", "companies", ["stream_processing_status"])
    op.create_index("idx_companies_stream_updated", "companies", ["stream_last_updated"])
    op.create_index("idx_companies_date_of_creation", "companies", ["date_of_creation"])
    _stream_metadata()
    _stream_events_log()


def downgrade() -> None:
    op.drop_table("stream_events_log")
    op.drop_table("stream_metadata")
    op.drop_index("idx_companies_date_of_creation", "companies")
    op.drop_index("idx_companies_stream_updated", "companies")
    op.drop_index("idx_companies_stream_status", "companies")
    op.drop_constraint("ck_companies_stream_processing_status", "companies", type_="check")
    for name, _type, _kw in reversed(COMPANY_COLUMNS):
        op.drop_column("companies", name)
