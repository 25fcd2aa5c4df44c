"""The tenant's OpenAPI 3.1 document; schemathesis through WSGI, with the enum example installed, finds no 5xx."""

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.extensions.conftest import CRM


def _signed_in(client, login, admin, tenant):
    login(admin, tenant=tenant)
    return f"session={client.get_cookie('session').value}"


def test_document_covers_core_and_extension_endpoints(client, login, admin, tenant):
    _signed_in(client, login, admin, tenant)
    api = f"/api/t/{tenant.slug}"
    assert client.post(f"{api}/extensions/acme-crm/schema", json=CRM).status_code == 201
    client.post(f"{api}/extensions/acme-crm/migrations/execute")
    doc = client.get(f"{api}/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": api}]
    paths = doc["paths"]
    collection = paths["/{collection}"]["get"]["parameters"][0]
    assert collection["schema"]["enum"] == ["companies", "partners", "products"]
    assert {"/{collection}/{object_id}", "/extensions/{plugin_id}/schema",
            "/extensions/{plugin_id}/migrations/execute", "/extensions/conflicts", "/x/acme-crm/deal",
            "/x/acme-crm/deal/{row_id}"} <= set(paths)
    assert set(paths["/x/acme-crm/deal"]) == {"get", "post"}
    row = doc["components"]["schemas"]["acme_crm_deal_write"]
    assert row["required"] == ["title"]
    assert row["properties"]["stage"]["enum"] == ["lead", "won", "lost"]  # required, so not nullable
    assert row["properties"]["probability"]["anyOf"][0]["maximum"] == 100
    register = paths["/extensions/{plugin_id}/schema"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Manifest"}
    assert "ExtensionTable" in doc["components"]["schemas"]
    client.post(f"{api}/extensions/acme-crm/disable")
    assert "/x/acme-crm/deal" not in client.get(f"{api}/openapi.json").get_json()["paths"]


def test_schemathesis_finds_no_server_errors(app, client, login, admin, tenant):
    from strata.accounts.tokens import create_token

    _signed_in(client, login, admin, tenant)
    auth = {"Authorization": f"Bearer {create_token(admin.id, 'schemathesis')[1]}"}  # as API clients do
    api = f"/api/t/{tenant.slug}"
    client.post(f"{api}/extensions/acme-crm/schema", json=CRM)
    client.post(f"{api}/extensions/acme-crm/migrations/execute")
    for title in ("Alpha", "Beta"):
        client.post(f"{api}/x/acme-crm/deal", json={"title": title})
    schema = schemathesis.openapi.from_wsgi(f"{api}/openapi.json", app, headers=auth)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} → {response.status_code}")

        check()
    assert failures == [], "\n".join(failures)
