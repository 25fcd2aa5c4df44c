"""Management API and auto REST over HTTP: register, execute, rows with filters, 422s, roles, tenants."""

import pytest

from tests.extensions.conftest import CRM, manifest


@pytest.fixture
def api(client, login, tenant, admin):
    login(admin, tenant=tenant)
    return f"/api/t/{tenant.slug}"


def _install(client, api, data=CRM):
    response = client.post(f"{api}/extensions/{data['pluginId']}/schema", json=data)
    assert response.status_code == 201, response.get_json()
    response = client.post(f"{api}/extensions/{data['pluginId']}/migrations/execute")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_register_preview_execute_and_history(client, api):
    response = client.post(f"{api}/extensions/acme-crm/schema", json=CRM)
    body = response.get_json()
    assert response.status_code == 201
    assert body["status"] == "pending" and body["migration"]["status"] == "pending"
    assert 'CREATE TABLE "plugin_crm_deal"' in body["migration"]["sql"]
    assert len(body["migration"]["checksums"]["sql"]) == 64
    assert body["preview"]["tables"][0] == {"table": "companies", "rows": 0}
    done = client.post(f"{api}/extensions/acme-crm/migrations/execute").get_json()
    assert done["applied"] is True and done["migration"]["status"] == "executed"
    again = client.post(f"{api}/extensions/acme-crm/migrations/execute").get_json()
    assert again["applied"] is False and "already applied" in again["message"]
    history = client.get(f"{api}/extensions/acme-crm/migrations").get_json()["items"]
    assert [m["status"] for m in history] == ["executed"] and history[0]["checksumValid"] is True
    assert client.get(f"{api}/extensions/acme-crm/schema").get_json()["status"] == "active"


def test_rest_crud_filters_order_and_paging(client, api):
    _install(client, api)
    base = f"{api}/x/acme-crm/deal"
    made = [client.post(base, json={"title": f"Deal {i}", "amount": str(i * 10), "probability": i * 10,
                                    "stage": "won" if i % 2 else "lead"}).get_json() for i in range(1, 6)]
    assert all("id" in m for m in made)
    page = client.get(f"{base}?stage=eq.won&order=amount.desc&limit=2")
    body = page.get_json()
    assert body["total"] == 3 and [r["title"] for r in body["items"]] == ["Deal 5", "Deal 3"]
    assert page.headers["Content-Range"] == "0-1/3"
    assert client.get(f"{base}?probability=gte.30&probability=lt.50").get_json()["total"] == 2
    assert client.get(f"{base}?title=ilike.*deal 1*").get_json()["total"] == 1
    assert client.get(f"{base}?stage=in.(won,lost)").get_json()["total"] == 3
    assert client.get(f"{base}?closes_on=is.null").get_json()["total"] == 5
    assert client.get(f"{base}?stage=neq.won", headers={"Range": "0-0"}).get_json()["limit"] == 1
    past = client.get(f"{base}?offset=100")
    assert past.get_json()["items"] == [] and past.get_json()["total"] == 5 and past.headers["Content-Range"] == "*/5"
    assert client.get(f"{base}?stage=eq.lost").get_json()["total"] == 0
    assert client.get(base, headers={"Prefer": "count=none"}).get_json()["total"] is None
    one = made[0]["id"]
    assert client.get(f"{base}/{one}").get_json()["title"] == "Deal 1"
    changed = client.patch(f"{base}/{one}", json={"title": "Renamed", "details": {"a": [1, 2]}})
    assert changed.status_code == 200 and changed.get_json()["details"] == {"a": [1, 2]}
    assert client.delete(f"{base}/{one}").status_code == 204
    assert client.get(f"{base}/{one}").status_code == 404
    assert client.get(f"{base}/not-a-uuid").status_code == 404


BAD_VALUES = [
    ({"amount": "5"}, "title", "required"),
    ({"title": "x"}, "title", "minLength"),
    ({"title": "ok title", "probability": 101}, "probability", "max"),
    ({"title": "ok title", "probability": "many"}, "probability", "type"),
    ({"title": "ok title", "stage": "maybe"}, "stage", "enum"),
    ({"title": "ok title", "code": "abc"}, "code", "pattern"),
    ({"title": "ok title", "amount": -1}, "amount", "min"),
    ({"title": "ok title", "closes_on": "tomorrow"}, "closes_on", "type"),
    ({"title": "ok title", "nope": 1}, "nope", "unknown"),
    ({"title": "ok title", "company_id": 999999}, "fk_plugin_crm_deal_company_id", "foreign_key"),
    ({"title": "ok title", "company_id": 2 ** 40}, "body", "invalid"),
    ({"title": "ok title", "details": {"text": "nul \u0000"}}, "details.text", "text"),
]
BAD_QUERIES = ["stage=eq.maybe", "amount=gt.lots", "nope=eq.1", "title=between.1", "order=nope.desc", "limit=5000",
               "offset=-1", "closed=lt.true", "details=eq.1", "id=eq.not-a-uuid", "stage=in.won"]


def test_rest_rejects_bad_values_with_field_and_rule(client, api):
    """One tenant for every case (installing is the slow part); each must be a 422 that names field and rule."""
    _install(client, api)
    for body, field, rule in BAD_VALUES:
        response = client.post(f"{api}/x/acme-crm/deal", json=body)
        assert response.status_code == 422, body
        assert (field, rule) in [(e["field"], e["rule"]) for e in response.get_json()["errors"]], body
    assert client.get(f"{api}/x/acme-crm/deal").get_json()["total"] == 0


def test_rest_rejects_bad_queries(client, api):
    _install(client, api)
    for query in BAD_QUERIES:
        response = client.get(f"{api}/x/acme-crm/deal?{query}")
        body = response.get_json()
        assert response.status_code == 400 and body["code"] and body["message"], query
        assert body["errors"][0]["field"] and body["errors"][0]["rule"], query


def test_unique_violation_is_422(client, api):
    _install(client, api)
    assert client.post(f"{api}/x/acme-crm/deal", json={"title": "One", "code": "ABC-1"}).status_code == 201
    response = client.post(f"{api}/x/acme-crm/deal", json={"title": "Two", "code": "ABC-1"})
    assert response.status_code == 422 and response.get_json()["errors"][0]["rule"] == "unique"


def test_disable_hides_api_and_keeps_data(client, api):
    _install(client, api)
    client.post(f"{api}/x/acme-crm/deal", json={"title": "Kept"})
    assert client.post(f"{api}/extensions/acme-crm/disable").get_json()["enabled"] is False
    assert client.get(f"{api}/x/acme-crm/deal").status_code == 404
    client.post(f"{api}/extensions/acme-crm/enable")
    assert client.get(f"{api}/x/acme-crm/deal").get_json()["total"] == 1


def test_uninstall_needs_confirmation_and_returns_export(client, api):
    _install(client, api)
    client.post(f"{api}/x/acme-crm/deal", json={"title": "Exported"})
    refused = client.delete(f"{api}/extensions/acme-crm/schema")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["rule"] == "confirm"
    export = client.delete(f"{api}/extensions/acme-crm/schema?confirm=acme-crm").get_json()
    assert [r["title"] for r in export["tables"]["deal"]] == ["Exported"]
    assert client.get(f"{api}/extensions/acme-crm/schema").status_code == 404
    assert client.get(f"{api}/x/acme-crm/deal").status_code == 404


def test_validate_endpoint_reports_json_paths(client, api):
    bad = manifest(version="one")
    bad["tables"] = [{"name": "Deal", "fields": [{"name": "x", "type": "Money"}]}]
    response = client.post(f"{api}/extensions/acme-crm/schema/validate", json=bad)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["version"]
    good = client.post(f"{api}/extensions/acme-crm/schema/validate", json=CRM)
    assert good.status_code == 200 and good.get_json()["valid"] is True
    assert 'CREATE TABLE "plugin_crm_deal"' in good.get_json()["sql"] and good.get_json()["steps"]
    assert client.get(f"{api}/extensions/acme-crm/schema").status_code == 404  # nothing registered


def test_yaml_manifest_is_accepted(client, api):
    text = "pluginId: notes\nversion: 0.1.0\nmetadata: {namespace: notes}\ntables:\n  - name: note\n    fields:\n" \
           "      - {name: body, type: String, required: true}\n"
    response = client.post(f"{api}/extensions/notes/schema", data=text, content_type="application/yaml")
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("role, status", [("viewer", 403), ("editor", 403)])
def test_only_admins_change_schemas(client, login, make_user, tenant, role, status):
    user = make_user()
    login(user, tenant=tenant, role=role)
    assert client.post(f"/api/t/{tenant.slug}/extensions/acme-crm/schema", json=CRM).status_code == status
    assert client.get(f"/api/t/{tenant.slug}/extensions/").status_code == 200


def test_viewer_reads_rows_but_cannot_write(client, api, login, make_user, tenant):
    _install(client, api)
    viewer = make_user()
    client.post("/logout")
    login(viewer, tenant=tenant, role="viewer")
    assert client.get(f"{api}/x/acme-crm/deal").status_code == 200
    assert client.post(f"{api}/x/acme-crm/deal", json={"title": "No"}).status_code == 403


def test_another_tenants_extension_is_404(client, api, make_tenant, make_user):
    _install(client, api)
    other = make_tenant()
    assert client.get(f"/api/t/{other.slug}/x/acme-crm/deal").status_code == 404
    assert client.get(f"/api/t/{other.slug}/extensions/acme-crm/schema").status_code == 404


TAGS = {"pluginId": "notes", "version": "1.0.0", "metadata": {"namespace": "notes"},
        "tables": [{"name": "note", "fields": [{"name": "body", "type": "String"}]},
                   {"name": "tag", "fields": [{"name": "label", "type": "String"}]}],
        "relationships": [{"source": "note", "sourceField": "tags", "target": "tag", "type": "ManyToMany"},
                          {"source": "note", "sourceField": "companies", "target": "companies",
                           "type": "ManyToMany"}]}


def test_many_to_many_links(client, api):
    _install(client, api, TAGS)
    note = client.post(f"{api}/x/notes/note", json={"body": "hello"}).get_json()["id"]
    red, blue = (client.post(f"{api}/x/notes/tag", json={"label": c}).get_json()["id"] for c in ("red", "blue"))
    links = f"{api}/x/notes/note/{note}/tags"
    assert client.post(links, json={"target_id": red}).status_code == 201
    assert client.post(links, json={"target_id": red}).get_json()["items"] == [red]  # linking twice changes nothing
    client.post(links, json={"target_id": blue})
    assert sorted(client.get(links).get_json()["items"]) == sorted([red, blue])
    missing = client.post(links, json={"target_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["rule"] == "foreign_key"
    assert client.post(links, json={"target_id": "nope"}).status_code == 422
    assert client.post(links, json={}).status_code == 422
    assert client.delete(f"{links}/{red}").status_code == 204
    assert client.delete(f"{links}/{red}").status_code == 404
    assert client.get(links).get_json()["items"] == [blue]
    assert client.get(f"{api}/x/notes/note/{note}/nope").status_code == 404
    assert client.post(f"{api}/x/notes/note/{note}/companies", json={"target_id": 2 ** 40}).status_code == 422
    assert client.delete(f"{api}/x/notes/note/{note}/companies/{2 ** 40}").status_code == 404
    client.delete(f"{api}/x/notes/tag/{blue}")  # deleting a tag removes its links
    assert client.get(links).get_json()["items"] == []
    paths = client.get(f"{api}/openapi.json").get_json()["paths"]
    assert {"/x/notes/note/{row_id}/tags", "/x/notes/note/{row_id}/tags/{target_id}"} <= set(paths)


def test_upgrade_preview_counts_rows_and_locks_then_rolls_back(client, api):
    """PUT plans an upgrade whose preview names the rows and locks it touches; the rollback endpoint undoes it."""
    _install(client, api)
    for title in ("One", "Two", "Three"):
        client.post(f"{api}/x/acme-crm/deal", json={"title": title})
    grown = manifest(version="1.1.0")
    grown["tables"][0]["fields"] = [*CRM["tables"][0]["fields"], {"name": "owner", "type": "String"}]
    body = client.put(f"{api}/extensions/acme-crm/schema", json=grown).get_json()
    assert body["status"] == "pending" and body["migration"]["fromVersion"] == "1.0.0"
    assert 'ALTER TABLE "plugin_crm_deal" ADD COLUMN "owner" text' in body["migration"]["sql"]
    impact = body["preview"]
    assert impact["tables"] == [{"table": "plugin_crm_deal", "rows": 3}] and impact["rows_affected"] == 3
    assert any(lock.startswith("ACCESS EXCLUSIVE") for step in impact["steps"] for lock in step["locks"])
    assert client.post(f"{api}/extensions/acme-crm/migrations/execute").get_json()["applied"] is True
    assert client.post(f"{api}/x/acme-crm/deal", json={"title": "Four", "owner": "ada"}).status_code == 201
    migration = body["migration"]["migrationId"]
    refused = client.post(f"{api}/extensions/acme-crm/migrations/{migration}/rollback")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "allow_destructive"
    rolled = client.post(f"{api}/extensions/acme-crm/migrations/{migration}/rollback?allow_destructive=1").get_json()
    assert rolled["rolledBack"] is True and rolled["migration"]["status"] == "rolled_back"
    assert client.get(f"{api}/extensions/acme-crm/schema").get_json()["appliedVersion"] == "1.0.0"
    unknown = client.post(f"{api}/x/acme-crm/deal", json={"title": "Five", "owner": "ada"}).get_json()["errors"]
    assert ("owner", "unknown") in [(e["field"], e["rule"]) for e in unknown]
    assert client.get(f"{api}/x/acme-crm/deal").get_json()["total"] == 4
    assert client.post(f"{api}/extensions/acme-crm/migrations/9999_9.9.9/rollback").status_code == 404


def test_destructive_upgrade_over_the_api_needs_the_flag(client, api):
    _install(client, api)
    client.post(f"{api}/x/acme-crm/deal", json={"title": "Has an amount", "amount": "12.5"})
    smaller = manifest(version="2.0.0")
    smaller["tables"][0]["fields"] = [f for f in CRM["tables"][0]["fields"] if f["name"] != "amount"]
    refused = client.put(f"{api}/extensions/acme-crm/schema", json=smaller)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["rule"] == "destructive"
    allowed = client.put(f"{api}/extensions/acme-crm/schema?allow_destructive=true", json=smaller).get_json()
    assert allowed["migration"]["allowDestructive"] is True and "ext_backup_" in allowed["migration"]["sql"]
    assert allowed["preview"]["destructive"]
