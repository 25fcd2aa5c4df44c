"""Migration t0007 builds the report tables, the seed's indexes (GIN, partial), the enum and the claim function,
and its downgrade removes them all."""

from __future__ import annotations

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text

from strata.db import apply_scope, db
from strata.tenancy import migrations

TABLES = {"workflows", "report_data_collections", "report_data_weeks", "workflow_schedules", "report_builder_audit",
          "report_segment_attempts", "report_notifications"}


def _names(query: str, schema: str) -> set[str]:
    return set(db.session.execute(text(query), {"s": schema}).scalars())


def _index(schema: str, name: str) -> str:
    return db.session.scalar(text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND indexname = :n"),
                             {"s": schema, "n": name})


def test_tables_indexes_enum_and_function(member):
    tenant, _ = member
    schema = tenant.schema_name
    assert TABLES <= _names("SELECT tablename FROM pg_tables WHERE schemaname = :s", schema)
    assert "USING gin (lookback_config)" in _index(schema, "idx_collections_lookback")
    assert "(week_start, week_end)" in _index(schema, "idx_data_weeks_date_range")
    assert "(collection_id, status, week_start)" in _index(schema, "idx_collection_progress")
    assert "WHERE (backfill_status IS NOT NULL)" in _index(schema, "idx_schedules_backfill")
    assert "(user_id, created_at DESC)" in _index(schema, "idx_builder_audit_user")
    labels = db.session.scalars(text("""
        SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = 'backfill_status_enum' AND n.nspname = :s ORDER BY e.enumsortorder"""), {"s": schema}).all()
    assert labels == ["pending", "in_progress", "completed", "failed", "partial"]
    assert _names("SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = :s", schema) >= {"report_segment_advance"}


def test_seed_columns_have_the_seeds_types_and_delete_rules(member):
    tenant, _ = member
    columns = dict(db.session.execute(text("""
        SELECT table_name || '.' || column_name, udt_name FROM information_schema.columns
        WHERE table_schema = :s AND column_name IN ('lookback_config', 'segmentation_config', 'schedule_config',
                                                     'backfill_status', 'backfill_collection_id', 'configuration')"""),
        {"s": tenant.schema_name}).all())
    assert columns == {
        "report_data_collections.lookback_config": "jsonb", "report_data_collections.segmentation_config": "jsonb",
        "workflow_schedules.schedule_config": "jsonb", "workflow_schedules.backfill_status": "backfill_status_enum",
        "workflow_schedules.backfill_collection_id": "uuid", "report_builder_audit.configuration": "jsonb"}
    rules = dict(db.session.execute(text("""
        SELECT conname, confdeltype FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = :s AND contype = 'f' AND conname IN (
            'fk_workflow_schedules_backfill_collection_id_collections', 'fk_report_builder_audit_user_id_users',
            'fk_report_builder_audit_workflow_id_workflows')"""), {"s": tenant.schema_name}).all())
    assert rules == {"fk_workflow_schedules_backfill_collection_id_collections": "n",  # SET NULL
                     "fk_report_builder_audit_user_id_users": "c",  # CASCADE
                     "fk_report_builder_audit_workflow_id_workflows": "n"}


def test_downgrade_removes_everything_and_upgrade_restores_it(member):
    tenant, _ = member
    script = migrations.script_directory()
    connection = db.session.connection()
    apply_scope(connection, tenant.scope())

    def down(rev, context):
        return script._downgrade_revs("t0006_extensions", rev)

    context = MigrationContext.configure(connection, opts={
        "version_table_schema": tenant.schema_name, "version_table": migrations.VERSION_TABLE, "fn": down,
        "script": script})
    with Operations.context(context):
        context.run_migrations()
    apply_scope(connection, None)
    schema = tenant.schema_name
    assert not TABLES & _names("SELECT tablename FROM pg_tables WHERE schemaname = :s", schema)
    assert not _names("SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                      "WHERE n.nspname = :s AND typname = 'backfill_status_enum'", schema)
    applied = migrations.upgrade_schema(connection, tenant.scope(), script)
    assert applied[:2] == ["t0007_reports", "t0008_stream_event_counts"] and "t0011_report_attempts" in applied
    assert TABLES <= _names("SELECT tablename FROM pg_tables WHERE schemaname = :s", schema)
    db.session.commit()
