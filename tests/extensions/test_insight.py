"""Query insight: the slowest REST list queries per extension table, and indexes created as migrations."""

from sqlalchemy import text

from strata.db import db
from strata.extensions import executor, insight, registry
from strata.tenancy.service import tenant_context

NOTES = {"pluginId": "notes", "version": "1.0.0", "metadata": {"namespace": "notes"},
         "tables": [{"name": "note", "fields": [{"name": "title", "type": "String"}, {"name": "words", "type": "Int"},
                                                 {"name": "mood", "type": "String"}],
                     "indexes": [{"fields": ["mood"]}]}]}


def test_slow_shapes_are_listed_and_a_suggested_index_becomes_a_migration(client, login, tenant, admin, install):
    with tenant_context(tenant.id):
        install(NOTES)
    login(admin, tenant=tenant)
    api = f"/api/t/{tenant.slug}/x/notes/note"
    for _ in range(3):
        assert client.get(f"{api}?words=gt.1&order=title").status_code == 200
    assert client.get(f"{api}?mood=eq.calm").status_code == 200
    assert client.get(f"{api}?words=eq.x").status_code == 400  # a refused query is not a shape

    panel = client.get(f"/t/{tenant.slug}/extensions/notes/data/note/insight")
    body = panel.get_data(as_text=True)
    assert panel.status_code == 200
    assert "filtered on words, ordered by title" in body and "filtered on mood" in body
    assert "missing: <code>(words, title)</code>" in body and ">3<" in body
    assert "Create index on (words, title)" in body and "Create index on (mood" not in body  # mood has one

    made = client.post(f"/t/{tenant.slug}/extensions/notes/data/note/insight/index",
                       data={"fields": ["words", "title"]})
    assert made.status_code == 200 and "Index created by migration 0002_1.0.1" in made.get_data(as_text=True)
    assert "Create index on (words, title)" not in made.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert db.session.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'plugin_notes_note' "
                                      "AND indexdef LIKE '%(words, title)%'")) == 1
        [latest, first] = registry.migrations("notes")
        assert (latest.version, latest.status, executor.verify(latest)) == ("1.0.1", "executed", [])
        assert registry.get("notes").schema_definition["tables"][0]["indexes"][-1] == {
            "fields": ["words", "title"], "unique": False}
        executor.rollback("notes", latest.migration_id)  # reversible, and drops no data
        assert db.session.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'plugin_notes_note' "
                                      "AND indexdef LIKE '%(words, title)%'")) == 0


def test_accepting_refuses_unknown_fields_and_existing_indexes(client, login, tenant, admin, install):
    with tenant_context(tenant.id):
        install(NOTES)
    login(admin, tenant=tenant)
    url = f"/t/{tenant.slug}/extensions/notes/data/note/insight/index"
    unknown = client.post(url, data={"fields": ["nope"]})
    assert unknown.status_code == 422 and "1 to 3 fields of note" in unknown.get_data(as_text=True)
    exists = client.post(url, data={"fields": ["mood"]})
    assert exists.status_code == 422 and "An index on note (mood) exists" in exists.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert len(registry.migrations("notes")) == 1


def test_viewers_see_no_insight_and_cannot_create_indexes(client, login, tenant, make_user, install):
    with tenant_context(tenant.id):
        install(NOTES)
    login(make_user(), tenant=tenant, role="viewer")
    assert client.get(f"/t/{tenant.slug}/extensions/notes/data/note/insight").status_code == 403
    assert client.post(f"/t/{tenant.slug}/extensions/notes/data/note/insight/index",
                       data={"fields": ["words"]}).status_code == 403


def test_suggestions_skip_system_columns_and_served_prefixes():
    shape = insight.Shape(("created_at", "words"), ("title",))
    assert insight.suggestion(shape, {"words", "title"}, [("id",), ("created_at", "id")]) == ("words", "title")
    assert insight.suggestion(shape, {"words", "title"}, [("words", "mood")]) is None
    assert insight.suggestion(insight.Shape((), ()), {"words"}, []) is None
