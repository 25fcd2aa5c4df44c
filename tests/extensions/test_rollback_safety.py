"""Rollbacks are as safe as forward steps; manifests no row could ever fit are refused at validation."""

import copy

import pytest
from sqlalchemy import text

from strata.db import db
from strata.errors import ValidationError
from strata.extensions import backups, catalog, executor, registry, rest, runtime
from strata.extensions.checks import MAX_ROW_BYTES
from strata.tenancy.service import tenant_context

NOTES = {"pluginId": "notes", "version": "1.0.0", "metadata": {"namespace": "notes"},
         "enums": [{"name": "mood", "values": ["calm", "busy"]}],
         "tables": [{"name": "note", "fields": [
             {"name": "title", "type": "String"}, {"name": "mood", "type": "mood", "default": "calm"}]}]}


def grown(**changes):
    data = copy.deepcopy(NOTES)
    data["version"] = "1.1.0"
    data.update(changes)
    return data


def rows(sql):
    return db.session.execute(text(sql)).all()


def add(title, **values):
    rest.create_row(runtime.table("notes", "note"), {"title": title, **values})
    db.session.commit()


def test_rolling_back_the_first_install_with_rows_is_refused_then_backed_up(scoped, install):
    migration = install(NOTES)
    add("a")
    add("b")
    before = catalog.snapshot()
    migration, losses = executor.rollback_preview("notes", migration.migration_id)
    assert [loss.description for loss in losses] == ["the table plugin_notes_note with its 2 rows"]
    with pytest.raises(ValidationError) as caught:
        executor.rollback("notes", migration.migration_id)
    assert caught.value.errors[0].field == "allow_destructive"
    assert "the table plugin_notes_note with its 2 rows" in caught.value.errors[0].message
    assert catalog.snapshot() == before and registry.get("notes").applied_version == "1.0.0"

    executor.rollback("notes", migration.migration_id, allow_destructive=True, actor="ada@example.com")
    assert "plugin_notes_note" not in catalog.relations()
    [kept] = backups.list_for("notes")
    assert (kept.source_table, kept.source_column, kept.row_count, kept.created_by) == \
        ("plugin_notes_note", None, 2, "ada@example.com")
    assert sorted(r["title"] for r in backups.rows(kept)) == ["a", "b"]

    executor.execute("notes")  # the same version again: an empty table, then the rows come back
    assert backups.restore(kept) == 2
    db.session.commit()
    assert sorted(r[0] for r in rows("SELECT title FROM plugin_notes_note")) == ["a", "b"]
    assert backups.restore(kept) == 0  # restoring twice adds nothing


def test_rolling_back_an_added_column_keeps_its_values(scoped, install):
    install(NOTES)
    migration = install(grown(tables=[{"name": "note", "fields": [
        *NOTES["tables"][0]["fields"], {"name": "words", "type": "Int"}]}]))
    add("short", words=3)
    add("untold")
    with pytest.raises(ValidationError) as caught:
        executor.rollback("notes", migration.migration_id)
    assert "1 value of the column plugin_notes_note.words" in caught.value.errors[0].message
    executor.rollback("notes", migration.migration_id, allow_destructive=True)
    assert "words" not in runtime.table("notes", "note").fields
    [kept] = backups.list_for("notes")
    assert kept.source_column == "words" and [r["value"] for r in backups.rows(kept)] == [3]
    with pytest.raises(ValidationError) as missing:  # the column is gone: nowhere to restore to yet
        backups.restore(kept)
    assert missing.value.errors[0].rule == "missing"
    executor.execute("notes", migration.migration_id)
    assert backups.restore(kept) == 1
    assert rows("SELECT title, words FROM plugin_notes_note ORDER BY title") == [("short", 3), ("untold", None)]


def test_rolling_back_added_enum_values_in_use_sets_the_old_default(scoped, install):
    install(NOTES)
    migration = install(grown(enums=[{"name": "mood", "values": ["calm", "busy", "ecstatic"]}]))
    add("wow", mood="ecstatic")
    add("meh", mood="busy")
    with pytest.raises(ValidationError) as caught:
        executor.rollback("notes", migration.migration_id)
    assert "1 row of plugin_notes_note whose mood is ecstatic" in caught.value.errors[0].message
    executor.rollback("notes", migration.migration_id, allow_destructive=True)
    assert rows("SELECT title, mood::text FROM plugin_notes_note ORDER BY title") == [("meh", "busy"),
                                                                                        ("wow", "calm")]
    [kept] = backups.list_for("notes")
    assert [r["value"] for r in backups.rows(kept)] == ["ecstatic"]


def test_a_rollback_that_drops_nothing_needs_no_flag(scoped, install):
    install(NOTES)
    migration = install(grown(tables=[{"name": "note", "fields": [
        *NOTES["tables"][0]["fields"], {"name": "words", "type": "Int"}]}]))
    add("no words")
    assert executor.rollback_preview("notes", migration.migration_id)[1] == []
    assert executor.rollback("notes", migration.migration_id).ran
    assert backups.list_for("notes") == []


def installed_with_a_row(tenant, install, login, admin):
    """Install NOTES with one row in the tenant, then sign the admin in (outside the tenant scope)."""
    with tenant_context(tenant.id):
        migration = install(NOTES)
        add("a")
        ids = migration.migration_id, str(migration.id)
    login(admin, tenant=tenant)
    return ids


def test_the_api_previews_refuses_and_backs_up_a_rollback(client, login, tenant, admin, install):
    migration_id, _ = installed_with_a_row(tenant, install, login, admin)
    base = f"/api/t/{tenant.slug}/extensions/notes"
    preview = client.get(f"{base}/migrations/{migration_id}/rollback")
    assert preview.status_code == 200 and preview.json["destructive"] is True
    assert preview.json["drops"][0]["rows"] == 1 and preview.json["drops"][0]["table"] == "plugin_notes_note"
    refused = client.post(f"{base}/migrations/{migration_id}/rollback")
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "allow_destructive"
    done = client.post(f"{base}/migrations/{migration_id}/rollback?allow_destructive=true")
    assert done.status_code == 200 and done.json["rolledBack"] is True
    [backup] = done.json["backups"]
    assert backup["rows"] == 1
    listed = client.get(f"{base}/backups").json["items"]
    assert [b["id"] for b in listed] == [backup["id"]]
    data = client.get(f"{base}/backups/{backup['id']}").json["data"]
    assert data[0]["title"] == "a"
    assert client.get(f"{base}/backups/not-a-uuid").status_code == 404


def test_the_page_confirms_with_counts_and_reloads_after_a_rollback(client, login, tenant, admin, install):
    _, pk = installed_with_a_row(tenant, install, login, admin)
    base = f"/t/{tenant.slug}/extensions/notes"
    confirm = client.get(f"{base}/migrations/{pk}/rollback", headers={"HX-Request": "true"})
    body = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "the table plugin_notes_note with its 1 row" in body
    assert "export.json" in body and 'name="allow_destructive"' in body
    refused = client.post(f"{base}/migrations/{pk}/rollback", headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "allow_destructive" in refused.get_data(as_text=True)
    done = client.post(f"{base}/migrations/{pk}/rollback", data={"allow_destructive": "1"},
                       headers={"HX-Request": "true"})
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"{base}/"
    page = client.get(f"{base}/").get_data(as_text=True)
    assert "installed nothing" in page and 'id="backups"' in page and "Download" in page


def test_history_apply_targets_work_for_ids_with_dots(client, login, tenant, admin):
    with tenant_context(tenant.id):
        registry.register(NOTES)
        db.session.commit()
    login(admin, tenant=tenant)
    page = client.get(f"/t/{tenant.slug}/extensions/notes/").get_data(as_text=True)
    assert 'hx-target="closest div">Apply' in page and "#apply-0001_1.0.0" not in page


def many(count, kind="String"):
    return {"pluginId": "wide", "version": "1.0.0", "metadata": {"namespace": "wide"},
            "tables": [{"name": "t", "fields": [{"name": f"f{i}", "type": kind} for i in range(count)]}]}


def test_a_table_whose_rows_cannot_fit_a_page_is_refused(scoped, install):
    with pytest.raises(ValidationError) as caught:
        registry.validate(many(1597))
    error = caught.value.errors[0]
    assert (error.field, error.rule) == ("tables[0].fields", "row_width") and f"{MAX_ROW_BYTES:,}" in error.message
    migration = install(many(400))  # 400 long texts fit: each leaves an 18-byte pointer in the row
    assert migration.status == "executed"
    spec = runtime.table("wide", "t")
    created = rest.create_row(spec, {f"f{i}": "x" * 3000 for i in range(400)})
    assert created["f399"] == "x" * 3000


def test_a_loop_of_required_relationships_is_refused(scoped):
    looped = {"pluginId": "loop", "version": "1.0.0", "metadata": {"namespace": "loop"},
              "tables": [{"name": "a", "fields": []}, {"name": "b", "fields": []}],
              "relationships": [
                  {"source": "a", "sourceField": "b_id", "target": "b", "type": "OneToOne", "required": True},
                  {"source": "b", "sourceField": "a_id", "target": "a", "type": "OneToMany", "required": True}]}
    with pytest.raises(ValidationError) as caught:
        registry.validate(looped)
    assert caught.value.errors[0].rule == "cycle" and "a → b → a" in caught.value.errors[0].message
    looped["relationships"][1]["required"] = False
    assert registry.validate(looped).pluginId == "loop"
    selfish = {**looped, "relationships": [
        {"source": "a", "sourceField": "parent", "target": "a", "type": "OneToMany", "required": True}]}
    with pytest.raises(ValidationError) as caught:
        registry.validate(selfish)
    assert "a → a" in caught.value.errors[0].message


def test_a_request_meeting_a_table_changed_under_it_reads_the_new_definition(client, login, tenant, admin,
                                                                              install):
    from strata.core import queues

    fields = [*NOTES["tables"][0]["fields"], {"name": "words", "type": "Int"}]
    wordy = grown(tables=[{"name": "note", "fields": fields}])
    with tenant_context(tenant.id):
        install(wordy)
        add("kept", words=3)
    login(admin, tenant=tenant)
    url = f"/api/t/{tenant.slug}/x/notes/note"
    assert client.get(url).json["items"][0]["words"] == 3  # this process now holds the definition with `words`
    key = runtime.version_key(tenant.id)
    seen = queues.connection.get(key)
    with tenant_context(tenant.id):  # another process drops the column; its notice has not arrived here yet
        install({**NOTES, "version": "2.0.0"}, allow_destructive=True)
    queues.connection.set(key, seen)
    listed = client.get(url)
    assert listed.status_code == 200 and listed.json["items"][0]["title"] == "kept"
    assert "words" not in listed.json["items"][0]
    created = client.post(url, json={"title": "new"})
    assert created.status_code == 201
