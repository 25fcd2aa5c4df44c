"""Migrations against real PostgreSQL: atomic failure, concurrency, checksums, rollback, destructive changes."""

import copy
import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from strata.db import db
from strata.errors import ValidationError
from strata.extensions import catalog, executor, registry, rest, runtime
from strata.extensions.executor import LOCK_CLASS
from strata.extensions.models import ExtensionMigration
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM

NOTES = {"pluginId": "notes", "version": "1.0.0", "metadata": {"namespace": "notes"},
         "enums": [{"name": "mood", "values": ["calm", "busy"]}],
         "tables": [{"name": "note", "fields": [
             {"name": "title", "type": "String", "default": "untitled"},
             {"name": "words", "type": "Int"},
             {"name": "mood", "type": "mood"}]}]}


def version(base, number, **table_changes):
    data = copy.deepcopy(base)
    data["version"] = number
    data["tables"][0].update(table_changes)
    return data


def rows(sql, **params):
    return db.session.execute(text(sql), params).all()


def test_a_failing_third_statement_leaves_the_catalog_as_it_was(scoped, install):
    install(NOTES)
    spec = runtime.table("notes", "note")
    rest.create_row(spec, {"title": "not a number"})
    db.session.commit()
    before = catalog.snapshot()
    narrowed = version(NOTES, "1.1.0", fields=[{"name": "title", "type": "Int"}, *NOTES["tables"][0]["fields"][1:]])
    _, migration = registry.upgrade("notes", narrowed, allow_destructive=True)
    db.session.commit()
    statements = [s for step in migration.steps for s in step["sql"]]
    assert statements[0].startswith("CREATE TABLE") and "TYPE bigint" in statements[2]
    with pytest.raises(ValidationError) as caught:
        executor.execute("notes")
    assert "invalid input syntax for type bigint" in str(caught.value)
    assert catalog.snapshot() == before
    record = db.session.get(ExtensionMigration, migration.id, populate_existing=True)
    assert record.status == "failed" and "bigint" in record.error_message
    assert record.execution_start is not None and record.execution_end is not None
    assert registry.get("notes").status == "failed" and registry.get("notes").applied_version == "1.0.0"
    assert rows("SELECT title FROM plugin_notes_note") == [("not a number",)]


def test_two_concurrent_executions_apply_once(app, tenant, scoped, install):
    registry.register(NOTES)
    db.session.commit()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    results, errors = [], []

    def run():
        with app.app_context(), tenant_context(tenant.id):
            try:
                results.append(executor.execute("notes"))
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)

    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, tenant.id))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert results == [] and errors == []  # both wait for the tenant's migration lock
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, tenant.id))
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert sorted(r.ran for r in results) == [False, True]
    assert "already applied" in next(r.message for r in results if not r.ran)
    assert registry.get("notes").applied_version == "1.0.0"


@pytest.mark.parametrize("column, value", [
    ("migration_sql", "DROP TABLE companies;\n"),
    ("rollback_sql", "SELECT 1;\n"),
    ("steps", '[{"description": "x", "sql": ["DROP TABLE companies"], "rollback": [], "tables": []}]'),
    ("schema_definition", '{"pluginId": "notes"}'),
])
def test_an_edited_record_is_refused_by_checksum(scoped, column, value):
    _, migration = registry.register(NOTES)
    db.session.commit()
    cast = "::jsonb" if column in ("steps", "schema_definition") else ""
    value_sql = "CAST(:v AS jsonb)" if cast else ":v"
    db.session.execute(text(f"UPDATE extension_migrations SET {column} = {value_sql} WHERE id = :id"),  # noqa: S608
                       {"v": value, "id": migration.id})
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        executor.execute("notes")
    assert caught.value.errors[0].rule == "checksum"
    assert rows("SELECT count(*) FROM pg_tables WHERE tablename = 'companies' AND schemaname = current_schema()") \
        == [(1,)]
    assert db.session.get(ExtensionMigration, migration.id, populate_existing=True).status == "pending"


def test_an_edited_executed_record_cannot_be_rolled_back(scoped, install):
    migration = install(NOTES)
    db.session.execute(text("UPDATE extension_migrations SET rollback_sql = 'DROP TABLE companies;' WHERE id = :id"),
                       {"id": migration.id})
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        executor.rollback("notes", migration.migration_id)
    assert caught.value.errors[0].rule == "checksum"
    assert executor.verify(db.session.get(ExtensionMigration, migration.id))


def test_rollback_of_an_upgrade_restores_the_schema(scoped, install):
    install(NOTES)
    before = catalog.snapshot()
    grown = copy.deepcopy(NOTES)
    grown["version"] = "1.1.0"
    grown["enums"][0]["values"] = ["calm", "focused", "busy"]
    grown["tables"][0]["fields"] += [{"name": "pinned", "type": "Boolean", "required": True, "default": False}]
    grown["tables"][0]["fields"][1] = {"name": "words", "type": "Float", "default": 0}
    grown["tables"][0]["indexes"] = [{"fields": ["mood", "words"]}]
    grown["tables"][0]["uniqueConstraints"] = [{"fields": ["title"]}]
    grown["tables"].append({"name": "tag", "fields": [{"name": "label", "type": "String", "required": True}]})
    grown["relationships"] = [
        {"source": "note", "sourceField": "company_id", "target": "companies", "type": "OneToMany",
         "onDelete": "SetNull"},
        {"source": "note", "sourceField": "tags", "target": "tag", "type": "ManyToMany"},
        {"source": "tag", "sourceField": "owner", "target": "note", "type": "OneToOne", "onDelete": "Cascade"}]
    migration = install(grown)
    assert migration.status == "executed"
    assert {"plugin_notes_tag", "plugin_notes_note_tags"} <= catalog.relations()
    rest.create_row(runtime.table("notes", "note"), {"title": "kept", "mood": "focused"})
    rest.create_row(runtime.table("notes", "note"), {"title": "kept too", "mood": "calm"})
    db.session.execute(text("DELETE FROM plugin_notes_note WHERE mood = 'focused'"))
    db.session.commit()
    with pytest.raises(ValidationError) as caught:  # the new column `pinned` holds a value
        executor.rollback("notes", migration.migration_id)
    assert caught.value.errors[0].rule == "destructive" and "1 value of the column plugin_notes_note.pinned" \
        in caught.value.errors[0].message
    outcome = executor.rollback("notes", migration.migration_id, allow_destructive=True)
    assert outcome.ran and "kept in 1 backup(s)" in outcome.message
    assert [line for line in catalog.snapshot() if "ext_backup_" not in line] == before
    assert registry.get("notes").applied_version == "1.0.0"
    assert db.session.get(ExtensionMigration, migration.id).status == "rolled_back"
    assert rows("SELECT title, words FROM plugin_notes_note") == [("kept too", 0)]


def test_rollback_of_the_first_install_removes_everything(scoped, install):
    before = catalog.snapshot()
    migration = install(CRM)
    executor.rollback("acme-crm", migration.migration_id)  # no rows yet: nothing to lose, no flag needed
    assert catalog.snapshot() == before
    row = registry.get("acme-crm")
    assert row.status == "pending" and row.applied_definition is None
    again = executor.execute("acme-crm")  # the rolled-back migration can be applied again
    assert again.ran and "plugin_crm_deal" in catalog.relations()


def test_only_the_installed_migration_can_be_rolled_back(scoped, install):
    first = install(NOTES)
    install(version(NOTES, "1.1.0", description="v2"))
    with pytest.raises(ValidationError) as caught:
        executor.rollback("notes", first.migration_id)
    assert caught.value.errors[0].rule == "order"


def test_destructive_upgrade_is_refused_without_the_flag_and_backed_up_with_it(scoped, install):
    install(NOTES)
    rest.create_row(runtime.table("notes", "note"), {"title": "a", "words": 12})
    rest.create_row(runtime.table("notes", "note"), {"title": "b", "words": 7})
    db.session.commit()
    before = catalog.snapshot()
    dropped = version(NOTES, "2.0.0", fields=[NOTES["tables"][0]["fields"][0], NOTES["tables"][0]["fields"][2]])
    with pytest.raises(ValidationError) as caught:
        registry.upgrade("notes", dropped)
    assert caught.value.errors[0].rule == "destructive"
    assert "drops the column plugin_notes_note.words" in caught.value.errors[0].message
    db.session.rollback()
    assert catalog.snapshot() == before and len(registry.migrations("notes")) == 1
    migration = install(dropped, allow_destructive=True)
    backup = next(t for t in catalog.relations() if t.startswith("ext_backup_"))
    kept = rows(f'SELECT words::int FROM "{backup}"')  # noqa: S608
    assert sorted(r[0] for r in kept) == [7, 12]
    assert "words" not in runtime.table("notes", "note").fields
    executor.rollback("notes", migration.migration_id)
    assert sorted(r[0] for r in rows("SELECT words FROM plugin_notes_note")) == [7, 12]
    assert catalog.snapshot() == before


def test_removing_an_enum_value_and_dropping_a_table_are_destructive(scoped, install):
    install(NOTES)
    rest.create_row(runtime.table("notes", "note"), {"title": "x", "mood": "busy"})
    db.session.commit()
    before = catalog.snapshot()
    fewer = copy.deepcopy(NOTES)
    fewer["version"] = "2.0.0"
    fewer["enums"][0]["values"] = ["calm"]
    with pytest.raises(ValidationError) as caught:
        registry.upgrade("notes", fewer)
    assert "removes busy" in caught.value.errors[0].message
    db.session.rollback()
    migration = install(fewer, allow_destructive=True)
    assert rows("SELECT mood FROM plugin_notes_note") == [(None,)]
    assert rows("SELECT enum_range(NULL::plugin_notes_mood)::text") == [("{calm}",)]
    executor.rollback("notes", migration.migration_id)
    assert rows("SELECT mood::text FROM plugin_notes_note") == [("busy",)]
    assert catalog.snapshot() == before
    empty = {**copy.deepcopy(NOTES), "version": "3.0.0", "tables": [], "enums": []}
    with pytest.raises(ValidationError):
        registry.upgrade("notes", empty)
    db.session.rollback()
    gone = install(empty, allow_destructive=True)
    assert "plugin_notes_note" not in catalog.relations()
    executor.rollback("notes", gone.migration_id)
    assert catalog.snapshot() == before and rows("SELECT title FROM plugin_notes_note") == [("x",)]


def test_a_unique_constraint_over_duplicates(scoped, install):
    install(NOTES)
    spec = runtime.table("notes", "note")
    for title in ("same", "same", "other"):
        rest.create_row(spec, {"title": title})
    db.session.commit()
    unique = version(NOTES, "1.1.0", uniqueConstraints=[{"fields": ["title"]}])
    with pytest.raises(ValidationError) as caught:
        registry.upgrade("notes", unique)
    assert "1 rows of plugin_notes_note repeat values of (title)" in caught.value.errors[0].message
    db.session.rollback()
    migration = install(unique, allow_destructive=True)
    assert sorted(r[0] for r in rows("SELECT title FROM plugin_notes_note")) == ["other", "same"]
    executor.rollback("notes", migration.migration_id)
    assert sorted(r[0] for r in rows("SELECT title FROM plugin_notes_note")) == ["other", "same", "same"]


def test_widening_a_type_keeps_values_without_a_backup(scoped, install):
    install(NOTES)
    rest.create_row(runtime.table("notes", "note"), {"words": 3})
    db.session.commit()
    widened = version(NOTES, "1.1.0", fields=[NOTES["tables"][0]["fields"][0], {"name": "words", "type": "Decimal"},
                                              NOTES["tables"][0]["fields"][2]])
    migration = install(widened)
    assert not any(step["destructive"] for step in migration.steps)
    assert rows("SELECT words::text FROM plugin_notes_note") == [("3",)]


@pytest.mark.parametrize("change, rule", [
    ({"version": "0.9.0"}, "increase"),
    ({"version": "1.0.0", "tables": []}, "increase"),
    ({"version": "1.1.0", "metadata": {"namespace": "other"}}, "immutable"),
])
def test_upgrade_rules(scoped, install, change, rule):
    install(NOTES)
    with pytest.raises(ValidationError) as caught:
        registry.upgrade("notes", {**copy.deepcopy(NOTES), **change})
    assert rule in {e.rule for e in caught.value.errors}


def test_a_required_field_added_later_needs_a_default(scoped, install):
    install(NOTES)
    needs = version(NOTES, "1.1.0", fields=[*NOTES["tables"][0]["fields"], {"name": "due", "type": "DateTime",
                                                                            "required": True}])
    with pytest.raises(ValidationError) as caught:
        registry.upgrade("notes", needs)
    assert caught.value.errors[0].field == "tables[0].fields[3].default"


def test_installing_in_one_tenant_creates_nothing_in_another(make_tenant, tenant, install):
    other = make_tenant()
    with tenant_context(other.id):
        before = catalog.snapshot()
    with tenant_context(tenant.id):
        install(CRM)
        assert "plugin_crm_deal" in catalog.relations()
    with tenant_context(other.id):
        assert catalog.snapshot() == before
        assert registry.list_schemas() == []
        where = rows("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relname = 'plugin_crm_deal'")
        assert where == [(tenant.schema_name,)]


def test_conflicts_with_existing_objects_and_other_plugins(scoped, install):
    db.session.execute(text("CREATE TABLE plugin_crm_deal (id int)"))
    db.session.execute(text("CREATE TYPE plugin_crm_stage AS ENUM ('x')"))
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        registry.validate(CRM)
    assert {(e.field, e.rule) for e in caught.value.errors} >= {("tables[0].name", "conflict"),
                                                                ("enums[0].name", "conflict")}
    db.session.rollback()
    install(NOTES)
    same_namespace = {**copy.deepcopy(CRM), "pluginId": "other", "metadata": {"namespace": "notes"}}
    with pytest.raises(ValidationError) as caught:
        registry.validate(same_namespace)
    assert caught.value.errors[0].rule == "conflict" and "'notes'" in caught.value.errors[0].message


def test_relationships_to_another_plugins_table_and_conflict_report(scoped, install):
    install(NOTES)
    linked = {"pluginId": "links", "version": "1.0.0", "metadata": {"namespace": "links"},
              "tables": [{"name": "link", "fields": [{"name": "url", "type": "String"}]}],
              "relationships": [{"source": "link", "sourceField": "note_id", "target": "plugin_notes_note",
                                 "type": "OneToMany", "onDelete": "Cascade"}]}
    install(linked)
    note = rest.create_row(runtime.table("notes", "note"), {"title": "n"})
    rest.create_row(runtime.table("links", "link"), {"url": "https://x", "note_id": note["id"]})
    db.session.commit()
    assert registry.detect_conflicts() == []
    from strata.extensions import lifecycle

    with pytest.raises(ValidationError) as caught:
        lifecycle.uninstall("notes", "notes")
    assert caught.value.errors[0].rule == "in_use"
    lifecycle.set_enabled("notes", False)
    db.session.commit()
    assert [c["kind"] for c in registry.detect_conflicts()] == ["relationship"]


def test_a_table_locked_elsewhere_fails_fast_on_lock_timeout(app, tenant, scoped, install):
    install(NOTES)
    app.config["EXTENSIONS_LOCK_TIMEOUT"] = "200ms"
    grown = version(NOTES, "1.1.0", fields=[*NOTES["tables"][0]["fields"], {"name": "extra", "type": "String"}])
    _, migration = registry.upgrade("notes", grown)
    db.session.commit()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as reader:
        reader.execute(f'SELECT count(*) FROM "{tenant.schema_name}".plugin_notes_note')  # noqa: S608 (holds a lock)
        start = time.perf_counter()
        with pytest.raises(ValidationError) as caught:
            executor.execute("notes")
        assert time.perf_counter() - start < 5
        reader.rollback()
    assert "lock timeout" in str(caught.value)
    record = db.session.get(ExtensionMigration, migration.id, populate_existing=True)
    assert record.status == "failed" and "lock timeout" in record.error_message
    assert executor.execute("notes").ran  # retried once the reader is gone


def test_other_sessions_see_executing_while_a_migration_runs(app, scoped):
    registry.register(NOTES)
    db.session.commit()
    seen = []

    def progress(step, total, description):
        with db.engine.connect() as other:  # another session, outside this transaction
            other.exec_driver_sql(f"SET search_path TO {scoped.schema}")
            seen.append(other.exec_driver_sql("SELECT status FROM extension_migrations").scalar())
            other.rollback()

    executor.execute("notes", progress=progress)
    assert seen and set(seen) == {"executing"}
    assert registry.migrations("notes")[0].status == "executed"


def test_a_table_with_a_thousand_columns(scoped, install):
    # Mostly flags, with text and numbers: a full row still fits one 8 kB page (see checks.row_width).
    kinds = ("String", "Int", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Float")
    fields = [{"name": f"c{i:04}", "type": kinds[i % len(kinds)]} for i in range(1000)]
    install({"pluginId": "wide", "version": "1.0.0", "metadata": {"namespace": "wide"},
             "tables": [{"name": "t", "fields": fields}]})
    row = rest.create_row(runtime.table("wide", "t"), {"c0000": "text", "c0001": 7, "c0999": 1.5})
    db.session.commit()
    assert rows("SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'plugin_wide_t'") == [(1003,)]
    assert rest.get_row(runtime.table("wide", "t"), row["id"])["c0001"] == 7


def test_two_registrations_of_one_plugin_at_once(app, tenant):
    registered, outcomes = threading.Event(), []

    def first():
        with app.app_context(), tenant_context(tenant.id):
            registry.register(NOTES)  # flushed, not committed: the second one cannot see it yet
            registered.set()
            time.sleep(0.5)
        outcomes.append("first")

    def second():
        registered.wait(10)
        with app.app_context(), tenant_context(tenant.id):
            try:
                registry.register(NOTES)  # waits on the unique index, then loses
                outcomes.append("second")
            except ValidationError as exc:
                outcomes.append(exc.errors[0].rule)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["first", "unique"]


def test_tables_with_names_of_63_bytes_get_distinct_primary_keys(scoped, install):
    """`pk_<table>` would pass 63 bytes: it is shortened with a hash, so two such tables do not clash."""
    before = catalog.snapshot()
    namespace = "n" * 40
    long = {"pluginId": "long", "version": "1.0.0", "metadata": {"namespace": namespace},
            "tables": [{"name": "t" * 13 + end, "fields": []} for end in ("ab", "cd")]}
    migration = install(long)
    assert migration.status == "executed"
    keys = rows("SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid::regclass::text LIKE :t",
                t=f"plugin_{namespace}_%")
    assert len({k[0] for k in keys}) == 2 and all(len(k[0]) <= 63 for k in keys)
    executor.rollback("long", migration.migration_id)
    assert catalog.snapshot() == before
