"""Housekeeping: keep this tenant's rows of public.housekeeping_due current.

Statement triggers on report schedules, runs, segments and streams recompute the three kinds of
due work after each change (a handful of index lookups), so the periodic jobs read one public
table instead of entering every tenant. The upgrade fills the rows for existing data.

Revision ID: t0014_housekeeping
Revises: t0013_extension_backups
Create Date: 2026-11-29
"""

from alembic import op
from psycopg import sql

revision = "t0014_housekeeping"
down_revision = "t0013_extension_backups"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION housekeeping_mark(target text, what text, due timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- A plain read first: most statements leave the mark as it is, and must not lock its row (every claim
  -- of every backfill slot of the tenant would queue on it, and deadlock with the report's own row lock).
  IF due IS NULL THEN
    IF EXISTS (SELECT 1 FROM public.housekeeping_due WHERE schema_name = target AND kind = what) THEN
      DELETE FROM public.housekeeping_due WHERE schema_name = target AND kind = what;
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM public.housekeeping_due
                    WHERE schema_name = target AND kind = what AND due_at = due) THEN
    INSERT INTO public.housekeeping_due (schema_name, kind, due_at) VALUES (target, what, due)
    ON CONFLICT (schema_name, kind) DO UPDATE SET due_at = EXCLUDED.due_at
    WHERE public.housekeeping_due.due_at IS DISTINCT FROM EXCLUDED.due_at;
  END IF;
END $$;

CREATE FUNCTION housekeeping_sync(target text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM housekeeping_mark(target, 'schedule',
    (SELECT min(next_run_at) FROM workflow_schedules WHERE is_active AND next_run_at IS NOT NULL));
  PERFORM housekeeping_mark(target, 'segments',
    CASE WHEN EXISTS (SELECT 1 FROM report_data_collections WHERE status IN ('pending', 'running'))
           OR EXISTS (SELECT 1 FROM report_data_weeks WHERE status = 'running')
         THEN '-infinity'::timestamptz END);
  PERFORM housekeeping_mark(target, 'streams',
    CASE WHEN EXISTS (SELECT 1 FROM stream_metadata WHERE enabled) THEN '-infinity'::timestamptz END);
END $$;

CREATE FUNCTION housekeeping_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM housekeeping_sync(TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
"""

# Table → the columns whose changes can change what is due.
TRIGGERS = {
    "workflow_schedules": ("is_active", "next_run_at"),
    "report_data_collections": ("status",),
    "report_data_weeks": ("status",),
    "stream_metadata": ("enabled",),
}
CREATE_TRIGGER = sql.SQL("CREATE TRIGGER {} AFTER INSERT OR DELETE OR UPDATE OF {} ON {} "
                         "FOR EACH STATEMENT EXECUTE FUNCTION housekeeping_changed()")


def _trigger(table: str) -> sql.Identifier:
    return sql.Identifier(f"trg_{table}_housekeeping")


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, columns in TRIGGERS.items():
        op.execute(CREATE_TRIGGER.format(_trigger(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
                                         sql.Identifier(table)).as_string(None))
    op.execute("SELECT housekeeping_sync(current_schema())")


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(sql.SQL("DROP TRIGGER {} ON {}").format(_trigger(table), sql.Identifier(table)).as_string(None))
    op.execute("DELETE FROM public.housekeeping_due WHERE schema_name = current_schema()")
    op.execute("DROP FUNCTION housekeeping_changed()")
    op.execute("DROP FUNCTION housekeeping_sync(text)")
    op.execute("DROP FUNCTION housekeeping_mark(text, text, timestamptz)")
