"""Report builder: workflows, collections, segments, schedules and the wizard's audit (seed 004).

Revision ID: t0007_reports
Revises: t0006_extensions
Create Date: 2026-11-22

Seed 004 describes changes to report tables it assumes exist; this revision creates them whole,
with the seed's columns (lookback_config, segmentation_config, schedule_config, backfill_status of
type backfill_status_enum, backfill_collection_id) and every index of its migration script (the
GIN index on lookback_config, the partial index on backfill_status). `report_data_weeks` holds one
row per segment (daily, weekly or monthly despite its name). User ids are integers, as in
public.users.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ENUM, JSONB, UUID

revision = "t0007_reports"
down_revision = "t0006_extensions"
branch_labels = None
depends_on = None

BACKFILL_STATUSES = ("pending", "in_progress", "completed", "failed", "partial")
COLLECTION_STATUSES = "('pending', 'running', 'completed', 'failed', 'partial', 'cancelled')"
SEGMENT_STATUSES = "('pending', 'running', 'completed', 'failed', 'cancelled')"


def _uuid_pk() -> sa.Column:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _user(name: str, table: str, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, sa.Integer, sa.ForeignKey("public.users.id", ondelete=ondelete,
                                                     name=f"fk_{table}_{name}_users"))


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _workflows() -> None:
    op.create_table(
        "workflows",
        _uuid_pk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("data_source", sa.String(50), nullable=False),
        sa.Column("parameters", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _user("created_by", "workflows"), *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
    )
    op.create_index("ix_workflows_name", "workflows", ["name"])


def _collections() -> None:
    op.create_table(
        "report_data_collections",
        _uuid_pk(),
        sa.Column("workflow_id", UUID(as_uuid=True), sa.ForeignKey(
            "workflows.id", ondelete="CASCADE", name="fk_report_data_collections_workflow_id_workflows"),
            nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("lookback_config", JSONB),
        sa.Column("segmentation_config", JSONB),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("trigger", sa.String(20), nullable=False, server_default="manual"),
        _user("requested_by", "report_data_collections"),
        *_timestamps(),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_report_data_collections"),
        sa.CheckConstraint(f"status IN {COLLECTION_STATUSES}", name="ck_report_data_collections_status"),
        sa.CheckConstraint("end_date >= start_date", name="ck_report_data_collections_range"),
    )
    op.create_index("ix_report_data_collections_workflow", "report_data_collections", ["workflow_id", "created_at"])
    op.create_index("idx_collections_lookback", "report_data_collections", ["lookback_config"],
                    postgresql_using="gin")


def _segments() -> None:
    op.create_table(
        "report_data_weeks",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("collection_id", UUID(as_uuid=True), sa.ForeignKey(
            "report_data_collections.id", ondelete="CASCADE", name="fk_report_data_weeks_collection_id_collections"),
            nullable=False),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("week_end", sa.Date, nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("row_count", sa.Integer),
        sa.Column("result_data", JSONB),
        sa.Column("error", sa.Text),
        sa.Column("worker", sa.String(200)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_report_data_weeks"),
        sa.UniqueConstraint("collection_id", "week_start", name="uq_report_data_weeks_collection_start"),
        sa.CheckConstraint(f"status IN {SEGMENT_STATUSES}", name="ck_report_data_weeks_status"),
        sa.CheckConstraint("week_end >= week_start", name="ck_report_data_weeks_range"),
    )
    op.create_index("idx_data_weeks_date_range", "report_data_weeks", ["week_start", "week_end"])
    op.create_index("idx_collection_progress", "report_data_weeks", ["collection_id", "status", "week_start"])
    # The dead-segment sweep reads only running rows by their heartbeat.
    op.create_index("ix_report_data_weeks_running_heartbeat", "report_data_weeks", ["heartbeat_at"],
                    postgresql_where=sa.text("status = 'running'"))


def _schedules() -> None:
    enum = ENUM(*BACKFILL_STATUSES, name="backfill_status_enum", create_type=False)
    enum.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "workflow_schedules",
        _uuid_pk(),
        sa.Column("workflow_id", UUID(as_uuid=True), sa.ForeignKey(
            "workflows.id", ondelete="CASCADE", name="fk_workflow_schedules_workflow_id_workflows"), nullable=False),
        sa.Column("schedule_config", JSONB),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("backfill_status", enum),
        sa.Column("backfill_collection_id", UUID(as_uuid=True), sa.ForeignKey(
            "report_data_collections.id", ondelete="SET NULL",
            name="fk_workflow_schedules_backfill_collection_id_collections")),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_schedules"),
        sa.UniqueConstraint("workflow_id", name="uq_workflow_schedules_workflow_id"),
    )
    op.create_index("idx_schedules_backfill", "workflow_schedules", ["backfill_status", "backfill_collection_id"],
                    postgresql_where=sa.text("backfill_status IS NOT NULL"))
    # The schedule tick reads only active schedules by their next run.
    op.create_index("ix_workflow_schedules_due", "workflow_schedules", ["next_run_at"],
                    postgresql_where=sa.text("is_active"))


def _audit() -> None:
    op.create_table(
        "report_builder_audit",
        _uuid_pk(),
        _user("user_id", "report_builder_audit", ondelete="CASCADE"),
        sa.Column("workflow_id", UUID(as_uuid=True), sa.ForeignKey(
            "workflows.id", ondelete="SET NULL", name="fk_report_builder_audit_workflow_id_workflows")),
        sa.Column("step_completed", sa.Text, nullable=False),
        sa.Column("configuration", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_report_builder_audit"),
        sa.CheckConstraint("step_completed IN ('parameters', 'schedule', 'review', 'submit')",
                           name="ck_report_builder_audit_step"),
    )
    op.create_index("idx_builder_audit_user", "report_builder_audit", ["user_id", sa.text("created_at DESC")])


# One round trip per segment for the backfill engine: write the finished segment's outcome, then
# lock the collection row (claims of one collection take turns) and, in a later statement that
# therefore sees every committed claim, take the next pending segment while fewer than
# parallel_limit run. Each statement of a volatile PL/pgSQL function gets a fresh snapshot under
# READ COMMITTED, which is what makes the count after the lock exact.
ADVANCE_FUNCTION = """
CREATE FUNCTION report_segment_advance(
    p_collection uuid, p_worker text, p_skip bigint[], p_claim boolean,
    p_done bigint, p_attempt integer, p_status text, p_result jsonb, p_error text)
RETURNS TABLE (id bigint, week_start date, week_end date, period_start timestamptz, period_end timestamptz,
               attempts integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    cap integer;
BEGIN
    -- A lost result or claim (database crash) is recomputed: results replace, the sweep requeues.
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_done IS NOT NULL THEN
        UPDATE report_data_weeks w
        SET status = p_status, error = p_error, heartbeat_at = NULL, updated_at = clock_timestamp(),
            result_data = CASE WHEN p_status = 'completed' THEN p_result ELSE w.result_data END,
            row_count = CASE WHEN p_status = 'completed' THEN (SELECT count(*) FROM jsonb_object_keys(p_result))
                             ELSE w.row_count END,
            completed_at = CASE WHEN p_status = 'pending' THEN NULL ELSE clock_timestamp() END
        WHERE w.id = p_done AND w.status = 'running' AND w.attempts = p_attempt;
    END IF;
    IF NOT p_claim THEN
        RETURN;
    END IF;
    SELECT (c.segmentation_config->>'parallel_limit')::int INTO cap
    FROM report_data_collections c WHERE c.id = p_collection AND c.status = 'running' FOR UPDATE;
    IF cap IS NULL OR (SELECT count(*) FROM report_data_weeks r
                       WHERE r.collection_id = p_collection AND r.status = 'running') >= cap THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH next AS (
        SELECT n.id FROM report_data_weeks n
        WHERE n.collection_id = p_collection AND n.status = 'pending' AND NOT (n.id = ANY(p_skip))
        ORDER BY n.week_start LIMIT 1 FOR UPDATE SKIP LOCKED)
    UPDATE report_data_weeks w
    SET status = 'running', attempts = w.attempts + 1, worker = p_worker, error = NULL,
        started_at = clock_timestamp(), heartbeat_at = clock_timestamp(), completed_at = NULL,
        updated_at = clock_timestamp()
    FROM next WHERE w.id = next.id
    RETURNING w.id, w.week_start, w.week_end, w.period_start, w.period_end, w.attempts;
END
$$"""


def upgrade() -> None:
    _workflows()
    _collections()
    _segments()
    _schedules()
    _audit()
    op.execute(ADVANCE_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION report_segment_advance(uuid, text, bigint[], boolean, bigint, integer, text, jsonb, "
               "text)")
    for table in ("report_builder_audit", "workflow_schedules", "report_data_weeks", "report_data_collections",
                  "workflows"):
        op.drop_table(table)
    ENUM(name="backfill_status_enum").drop(op.get_bind(), checkfirst=True)
