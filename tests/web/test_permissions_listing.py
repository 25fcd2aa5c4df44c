"""A class only admins may read leaves no trace for viewers and editors: every page and JSON listing of
the URL map, the dashboard's recent activity, GraphQL, searches and the report source that counts things
per class show none of its names; extension data export and manifest validation need the admin role."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

import pytest

from strata.reports import sources
from strata.reports.segmentation import segments
from strata.tenancy.service import tenant_context
from tests.routes import rule_url

CLASS, THING = "Zebracorn Ledger", "Quixotic Payroll"
SKIP = ("/logout", "/static", "/admin/rq")


@pytest.fixture
def hidden(client, login, make_user, make_tenant):
    """A tenant whose admin made a class only admins may read, with a thing created and changed in it."""
    admin, editor, viewer = make_user(), make_user(), make_user()
    tenant = make_tenant(members={admin: "admin", editor: "editor", viewer: "viewer"})
    login(admin)
    api = f"/api/t/{tenant.slug}/things"
    made = client.post(f"{api}/classes", json={"name": CLASS, "permissions": {"read": ["admin"]}})
    assert made.status_code == 201, made.get_json()
    class_id = made.get_json()["id"]
    thing = client.post(f"{api}/classes/{class_id}/things", json={"name": THING})
    assert thing.status_code == 201, thing.get_json()
    thing_id = thing.get_json()["id"]
    assert client.patch(f"{api}/{thing_id}", json={"name": THING + " II"}).status_code == 200
    open_class = client.post(f"{api}/classes", json={"name": "Open Class"}).get_json()["id"]
    client.post(f"{api}/classes/{open_class}/things", json={"name": "Visible Thing"})
    assert CLASS in client.get(f"/t/{tenant.slug}/").get_data(as_text=True) or \
        THING in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)  # admins see it: the check can fail
    client.post("/logout")
    return tenant, {"editor": editor, "viewer": viewer}, class_id, thing_id


def _leaks(text: str) -> bool:
    return CLASS in text or THING in text


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_no_listing_shows_a_hidden_class_or_its_things(app, client, login, hidden, role):
    tenant, users, class_id, thing_id = hidden
    login(users[role])
    leaks = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIP):
            continue
        urls = {rule_url(rule, tenant.slug)}
        if "class_id" in rule.arguments or "thing_id" in rule.arguments:
            values = {"slug": tenant.slug, "class_id": class_id, "thing_id": thing_id}
            try:
                urls.add(rule.build({k: v for k, v in values.items() if k in rule.arguments}
                                    | {k: 1 for k in rule.arguments if k not in values})[1])
            except Exception:  # noqa: BLE001 - a rule with other converters keeps the generic URL
                pass
        for url in urls:
            for query in ({}, {"q": "Z"}, {"prefix": "Zeb"}, {"search": "Quix"}):
                response = client.get(url + ("&" if "?" in url else "?") + urlencode(query))
                if _leaks(response.get_data(as_text=True)):
                    leaks.append(f"GET {url} {query} → {response.status_code}")
    graphql = client.post(f"/api/t/{tenant.slug}/graphql", json={"query": "{ classes { nodes { name } } }"})
    if _leaks(graphql.get_data(as_text=True)):
        leaks.append("GraphQL classes")
    assert not leaks, leaks


def test_the_dashboard_activity_hides_things_of_hidden_classes(client, login, hidden):
    tenant, users, _, _ = hidden
    login(users["viewer"])
    page = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Visible Thing" in page and not _leaks(page)


def test_the_things_per_class_source_counts_only_classes_every_member_reads(app, hidden):
    tenant, _, _, _ = hidden
    week = segments(date.today(), date.today(), "daily", "UTC")[0]
    window = sources.Window(week.start, week.end, week.period_start, week.period_end)
    params = sources.validate("things", "created", {})
    with tenant_context(tenant.id):
        series = sources.REGISTRY["things"].compute(params, window)
    assert series == {"Open Class": 1}


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_extension_export_and_manifest_validation_need_the_admin_role(client, login, hidden, role):
    tenant, users, _, _ = hidden
    login(users[role])
    base = f"/api/t/{tenant.slug}/extensions"
    assert client.get(f"{base}/acme-crm/export").status_code == 403
    assert client.get(f"/t/{tenant.slug}/extensions/acme-crm/export.json").status_code == 403
    response = client.post(f"{base}/acme-crm/schema/validate", json={"pluginId": "acme-crm"})
    assert response.status_code == 403
