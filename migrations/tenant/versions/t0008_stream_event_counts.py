"""Stream dashboards without counting the whole events log: a per-stream counter and an index of failed events.

Revision ID: t0008_stream_event_counts
Revises: t0007_reports
Create Date: 2026-11-28

The dashboard polls every 2 s and used to count `stream_events_log` by status for the stream, a scan
that grows with the log (a company-profile stream adds tens of thousands of events a day). Now
`stream_metadata.events_logged` is kept by statement-level triggers on the log (one UPDATE per
written batch, on the row the writer already holds locked), and failed events, the ones an admin
acts on, are counted from a partial index.
"""

import sqlalchemy as sa
from alembic import op

revision = "t0008_stream_event_counts"
down_revision = "t0007_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stream_metadata", sa.Column("events_logged", sa.BigInteger, nullable=False, server_default="0"))
    op.execute("""
        UPDATE stream_metadata m SET events_logged = (SELECT count(*) FROM stream_events_log l WHERE l.stream_id = m.id)
    """)
    op.create_index("idx_stream_events_failed", "stream_events_log", ["stream_id"],
                    postgresql_where=sa.text("processing_status = 'failed'"))
    op.execute("""
        CREATE FUNCTION stream_events_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                UPDATE stream_metadata m SET events_logged = m.events_logged + n.count
                FROM (SELECT stream_id, count(*) AS count FROM new_rows GROUP BY stream_id) n
                WHERE m.id = n.stream_id;
            ELSE
                UPDATE stream_metadata m SET events_logged = m.events_logged - o.count
                FROM (SELECT stream_id, count(*) AS count FROM old_rows GROUP BY stream_id) o
                WHERE m.id = o.stream_id;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER trg_stream_events_counted_insert AFTER INSERT ON stream_events_log
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_events_count()""")
    op.execute("""
        CREATE TRIGGER trg_stream_events_counted_delete AFTER DELETE ON stream_events_log
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_events_count()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_stream_events_counted_delete ON stream_events_log")
    op.execute("DROP TRIGGER trg_stream_events_counted_insert ON stream_events_log")
    op.execute("DROP FUNCTION stream_events_count()")
    op.drop_index("idx_stream_events_failed", "stream_events_log")
    op.drop_column("stream_metadata", "events_logged")
