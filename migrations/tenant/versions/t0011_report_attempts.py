"""Reports: every attempt of every segment, retry back-off, partial segments, notifications; one limit per report.

Revision ID: t0011_report_attempts
Revises: t0010_stream_resources
Create Date: 2026-11-29

- `report_segment_attempts`: one row per attempt (worker, start, end, status, error); the claim
  inserts it and the result closes it, in the same statement as before.
- `report_data_weeks.not_before`: a failed attempt waiting for its back-off (or Retry-After) is
  pending with the instant it may run again; `attempt_base`: the attempt count when the current
  retry budget began (a manual retry adds attempts and starts a fresh budget, never resets).
  `is_partial`: the segment holds today so far.
- `report_notifications`: in-app alerts to a report's owner (a failed or partial run, a paused schedule).
- `report_segment_advance` is replaced: `parallel_limit` now holds per report across all its runs
  (the report row is locked, running segments of every running collection counted), and the next
  pending segment may come from any running collection of the report, its own first.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0011_report_attempts"
down_revision = "t0010_stream_resources"
branch_labels = None
depends_on = None

DROP_OLD = "DROP FUNCTION report_segment_advance(uuid, text, bigint[], boolean, bigint, integer, text, jsonb, text)"
DROP_NEW = "DROP FUNCTION report_segment_advance(uuid, text, boolean, bigint, integer, text, jsonb, text, timestamptz)"

ADVANCE_FUNCTION = """
CREATE FUNCTION report_segment_advance(
    p_collection uuid, p_worker text, p_claim boolean,
    p_done bigint, p_attempt integer, p_status text, p_result jsonb, p_error text, p_not_before timestamptz)
RETURNS TABLE (id bigint, collection_id uuid, week_start date, week_end date, period_start timestamptz,
               period_end timestamptz, attempts integer, attempt_base integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    report uuid;
    cap integer;
    found_id bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_done IS NOT NULL THEN
        UPDATE report_data_weeks w
        SET status = p_status, error = p_error, heartbeat_at = NULL, updated_at = clock_timestamp(),
            not_before = CASE WHEN p_status = 'pending' THEN p_not_before END,
            result_data = CASE WHEN p_status = 'completed' THEN p_result ELSE w.result_data END,
            row_count = CASE WHEN p_status = 'completed' THEN (SELECT count(*) FROM jsonb_object_keys(p_result))
                             ELSE w.row_count END,
            completed_at = CASE WHEN p_status = 'pending' THEN NULL ELSE clock_timestamp() END
        WHERE w.id = p_done AND w.status = 'running' AND w.attempts = p_attempt;
        IF FOUND THEN
            UPDATE report_segment_attempts a
            SET status = CASE WHEN p_status = 'pending' THEN 'retrying' ELSE p_status END,
                error = p_error, ended_at = clock_timestamp()
            WHERE a.segment_id = p_done AND a.attempt = p_attempt;
        END IF;
    END IF;
    IF NOT p_claim THEN
        RETURN;
    END IF;
    SELECT c.workflow_id, coalesce((f.parameters->'segmentation'->>'parallel_limit')::int,
                                   (c.segmentation_config->>'parallel_limit')::int)
    INTO report, cap
    FROM report_data_collections c JOIN workflows f ON f.id = c.workflow_id
    WHERE c.id = p_collection AND c.status = 'running';
    IF report IS NULL THEN
        RETURN;
    END IF;
    -- Claims of one report take turns; the count below, a later statement, sees every committed claim.
    PERFORM 1 FROM workflows f WHERE f.id = report FOR NO KEY UPDATE;
    IF cap IS NULL OR (SELECT count(*) FROM report_data_weeks r JOIN report_data_collections c ON c.id = r.collection_id
                       WHERE c.workflow_id = report AND c.status = 'running' AND r.status = 'running') >= cap THEN
        RETURN;
    END IF;
    SELECT n.id INTO found_id FROM report_data_weeks n
    WHERE n.collection_id = p_collection AND n.status = 'pending'
      AND (n.not_before IS NULL OR n.not_before <= clock_timestamp())
    ORDER BY n.week_start LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF found_id IS NULL THEN
        SELECT n.id INTO found_id FROM report_data_weeks n JOIN report_data_collections c ON c.id = n.collection_id
        WHERE c.workflow_id = report AND c.status = 'running' AND n.status = 'pending'
          AND (n.not_before IS NULL OR n.not_before <= clock_timestamp())
        ORDER BY c.created_at, n.week_start LIMIT 1 FOR UPDATE OF n SKIP LOCKED;
    END IF;
    IF found_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE report_data_weeks w
        SET status = 'running', attempts = w.attempts + 1, worker = p_worker, error = NULL, not_before = NULL,
            started_at = clock_timestamp(), heartbeat_at = clock_timestamp(), completed_at = NULL,
            updated_at = clock_timestamp()
        WHERE w.id = found_id
        RETURNING w.id, w.collection_id, w.week_start, w.week_end, w.period_start, w.period_end, w.attempts,
                  w.attempt_base),
    noted AS (
        INSERT INTO report_segment_attempts (segment_id, attempt, worker, status, started_at)
        SELECT claimed.id, claimed.attempts, p_worker, 'running', clock_timestamp() FROM claimed
        ON CONFLICT (segment_id, attempt) DO UPDATE
        SET worker = excluded.worker, status = 'running', started_at = excluded.started_at, ended_at = NULL,
            error = NULL)
    SELECT * FROM claimed;
END
$$"""


def _load_t0007():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("t0007_reports.py")
    spec = importlib.util.spec_from_file_location("t0007_reports_for_downgrade", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.add_column("report_data_weeks", sa.Column("not_before", sa.DateTime(timezone=True)))
    op.add_column("report_data_weeks", sa.Column("attempt_base", sa.Integer, nullable=False, server_default="0"))
    op.add_column("report_data_weeks", sa.Column("is_partial", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "report_segment_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("segment_id", sa.BigInteger, sa.ForeignKey(
            "report_data_weeks.id", ondelete="CASCADE", name="fk_report_segment_attempts_segment_id_weeks"),
            nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_report_segment_attempts"),
        sa.UniqueConstraint("segment_id", "attempt", name="uq_report_segment_attempts_segment_attempt"),
        sa.CheckConstraint("status IN ('running', 'completed', 'failed', 'retrying', 'lost')",
                           name="ck_report_segment_attempts_status"),
    )
    # The sweep closes attempts whose worker died: it reads only running ones.
    op.create_index("ix_report_segment_attempts_running", "report_segment_attempts", ["segment_id"],
                    postgresql_where=sa.text("status = 'running'"))
    # Back-off waits the sweep looks for.
    op.create_index("ix_report_data_weeks_not_before", "report_data_weeks", ["not_before"],
                    postgresql_where=sa.text("status = 'pending' AND not_before IS NOT NULL"))
    op.create_table(
        "report_notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("public.users.id", ondelete="CASCADE",
                                                       name="fk_report_notifications_user_id_users"), nullable=False),
        sa.Column("workflow_id", UUID(as_uuid=True), sa.ForeignKey(
            "workflows.id", ondelete="CASCADE", name="fk_report_notifications_workflow_id_workflows"), nullable=False),
        sa.Column("collection_id", UUID(as_uuid=True), sa.ForeignKey(
            "report_data_collections.id", ondelete="SET NULL",
            name="fk_report_notifications_collection_id_collections")),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("emailed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_report_notifications"),
    )
    op.create_index("ix_report_notifications_user", "report_notifications", ["user_id", sa.text("created_at DESC")])
    # The partitions view reads the latest segment per period of a report.
    op.create_index("ix_report_data_collections_workflow_status", "report_data_collections", ["workflow_id", "status"])
    op.execute(DROP_OLD)
    op.execute(ADVANCE_FUNCTION)


def downgrade() -> None:
    op.execute(DROP_NEW)
    op.execute(_load_t0007().ADVANCE_FUNCTION)
    op.drop_index("ix_report_data_collections_workflow_status", "report_data_collections")
    op.drop_table("report_notifications")
    op.drop_index("ix_report_data_weeks_not_before", "report_data_weeks")
    op.drop_table("report_segment_attempts")
    for column in ("is_partial", "attempt_base", "not_before"):
        op.drop_column("report_data_weeks", column)
