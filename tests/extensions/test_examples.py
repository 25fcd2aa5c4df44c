"""Every manifest in examples/extensions is installed over the API and its rows, links and rules work."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from strata.business_objects import service
from strata.db import db
from strata.extensions import catalog
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "extensions"
COVERED = {"custom_report.json", "company_comments.json", "crm_deals.yaml", "product_tags.json",
           "contacts_and_events/1_contacts-1.0.0.json", "contacts_and_events/2_events-1.0.0.json",
           "contacts_and_events/3_contacts-1.1.0.json"}


@pytest.fixture
def api(client, login, tenant, admin):
    login(admin, tenant=tenant)
    return f"/api/t/{tenant.slug}"


def _install(client, api, name, method="post"):
    """Register (POST) or upgrade (PUT) an example file as it is on disk, then execute its migration."""
    source = (EXAMPLES / name).read_text()
    kind = "application/yaml" if name.endswith(".yaml") else "application/json"
    plugin = json.loads(source)["pluginId"] if kind == "application/json" else CRM["pluginId"]
    response = client.open(f"{api}/extensions/{plugin}/schema", method=method, data=source, content_type=kind)
    assert response.status_code in (200, 201), response.get_json()
    done = client.post(f"{api}/extensions/{plugin}/migrations/execute").get_json()
    assert done["applied"] is True and done["migration"]["status"] == "executed", done
    return f"{api}/x/{plugin}"


def _core(tenant, entity_type, **values):
    with tenant_context(tenant.id):
        return service.create(entity_type, values, actor_id=None).id


def test_every_example_is_covered():
    found = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.suffix in (".json", ".yaml")}
    assert found == COVERED


def test_custom_report_installs_serves_rows_and_uninstalls_with_an_export(client, api, tenant):
    with tenant_context(tenant.id):
        before = catalog.snapshot()
    base = f"{_install(client, api, 'custom_report.json')}/custom_report"
    made = client.post(base, json={"title": "Monthly churn", "query": {"metric": "churn", "by": "month"}})
    assert made.status_code == 201
    row = made.get_json()
    assert row["is_public"] is False and row["run_count"] == 0 and row["query"]["by"] == "month"
    again = client.post(base, json={"title": "Monthly churn", "query": {}})
    assert again.status_code == 422 and again.get_json()["errors"][0]["rule"] == "unique"
    short = client.post(base, json={"title": "ab", "query": {}}).get_json()["errors"]
    assert ("title", "minLength") in [(e["field"], e["rule"]) for e in short]
    export = client.delete(f"{api}/extensions/custom-report/schema?confirm=custom-report").get_json()
    assert [r["title"] for r in export["tables"]["custom_report"]] == ["Monthly churn"]
    with tenant_context(tenant.id):
        assert catalog.snapshot() == before


def test_company_comments_follow_their_company(client, api, tenant):
    base = f"{_install(client, api, 'company_comments.json')}/comment"
    initech, globex = _core(tenant, "company", name="Initech"), _core(tenant, "company", name="Globex")
    for company, body in ((initech, "Renewal due"), (initech, "Call Bill"), (globex, "New lead")):
        assert client.post(base, json={"body": body, "author": "ada", "company_id": company}).status_code == 201
    missing = client.post(base, json={"body": "Orphan", "author": "ada"}).get_json()["errors"]
    assert ("company_id", "required") in [(e["field"], e["rule"]) for e in missing]
    assert client.get(f"{base}?company_id=eq.{initech}").get_json()["total"] == 2
    with tenant_context(tenant.id):
        service.delete_object("company", initech, actor_id=None)
    assert [r["body"] for r in client.get(base).get_json()["items"]] == ["New lead"]


def test_the_enum_example_from_yaml(client, api, tenant):
    base = f"{_install(client, api, 'crm_deals.yaml')}/deal"
    assert client.post(base, json={"title": "Big one"}).get_json()["stage"] == "lead"
    wrong = client.post(base, json={"title": "Big one", "stage": "maybe"}).get_json()["errors"]
    assert ("stage", "enum") in [(e["field"], e["rule"]) for e in wrong]
    schema = client.get(f"{api}/extensions/acme-crm/schema").get_json()["schema"]
    assert schema["enums"][0]["localization"]["de"]["won"] == "Gewonnen"
    with tenant_context(tenant.id):
        labels = db.session.execute(text("SELECT enum_range(NULL::plugin_crm_stage)::text")).scalar()
    assert labels == "{lead,won,lost}"


def test_product_tags_many_to_many(client, api, tenant):
    base = _install(client, api, "product_tags.json")
    stapler, lamp = _core(tenant, "product", name="Stapler"), _core(tenant, "product", name="Lamp")
    red = client.post(f"{base}/tag", json={"label": "red"}).get_json()
    assert red["color"] == "#888888"
    for product in (stapler, lamp):
        assert client.post(f"{base}/tag/{red['id']}/products", json={"target_id": product}).status_code == 201
    assert sorted(client.get(f"{base}/tag/{red['id']}/products").get_json()["items"]) == sorted([stapler, lamp])
    office = client.post(f"{base}/collection", json={"name": "Office"}).get_json()["id"]
    assert client.post(f"{base}/collection/{office}/tags", json={"target_id": red["id"]}).status_code == 201
    assert client.get(f"{base}/collection/{office}/tags").get_json()["items"] == [red["id"]]
    with tenant_context(tenant.id):
        service.delete_object("product", lamp, actor_id=None)  # its links go with it
    assert client.get(f"{base}/tag/{red['id']}/products").get_json()["items"] == [stapler]
    bad = client.post(f"{base}/tag", json={"label": "blue", "color": "blue"}).get_json()["errors"]
    assert ("color", "pattern") in [(e["field"], e["rule"]) for e in bad]


def test_two_plugins_relating_to_each_other(client, api):
    contacts = _install(client, api, "contacts_and_events/1_contacts-1.0.0.json")
    events = _install(client, api, "contacts_and_events/2_events-1.0.0.json")
    _install(client, api, "contacts_and_events/3_contacts-1.1.0.json", method="put")
    ada = client.post(f"{contacts}/person", json={"name": "Ada", "email": "ada@example.com"}).get_json()["id"]
    bob = client.post(f"{contacts}/person", json={"name": "Bob"}).get_json()["id"]
    launch = client.post(f"{events}/event", json={"title": "Launch", "starts_at": "2026-03-01T18:00:00+00:00",
                                                  "organizer_id": ada}).get_json()["id"]
    assert client.post(f"{events}/event/{launch}/attendees", json={"target_id": bob}).status_code == 201
    met = client.patch(f"{contacts}/person/{bob}", json={"met_at_id": launch})
    assert met.status_code == 200 and met.get_json()["met_at_id"] == launch
    assert client.get(f"{api}/extensions/conflicts").get_json() == {"conflicts": []}
    for plugin in ("contacts", "events"):
        refused = client.delete(f"{api}/extensions/{plugin}/schema?confirm={plugin}")
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["rule"] == "in_use"
    assert client.delete(f"{contacts}/person/{ada}").status_code == 204
    assert client.get(f"{events}/event/{launch}").get_json()["organizer_id"] is None  # SetNull
    assert client.delete(f"{events}/event/{launch}").status_code == 204
    assert client.get(f"{contacts}/person/{bob}").get_json()["met_at_id"] is None
