"""Thing pages: class list with counts, class editor, generated forms with inline 422 errors, detail with
related things both ways, soft delete and restore, and what each role sees."""

import pytest

from strata.tenancy.service import tenant_context
from strata.things import schema, service


@pytest.fixture
def world(tenant, model, actors):
    """Two classes: Server (required hostname, ram) and Rack, and `Rack holds Server` (bidirectional)."""
    with tenant_context(tenant.id):
        server, rack = model.cls("Server"), model.cls("Rack")
        hostname = model.attr("hostname", "string", constraints={"max_length": 20})
        ram = model.attr("ram_gb", "integer", constraints={"min": 1, "max": 1024})
        model.assign(server, hostname, required=True)
        model.assign(server, ram)
        holds = model.relate(rack, server, model.rtype("holds", "is held by"), "one_to_many", bidirectional=True)
        r1 = model.thing(rack, "Rack 1")
        s1 = model.thing(server, "web-1", hostname="web-1", ram_gb=16)
        service.link(actors["admin"], holds.id, r1.id, s1.id)
        return {"server": server.id, "rack": rack.id, "holds": holds.id, "r1": r1.id, "s1": s1.id}


def _page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_class_list_shows_counts_from_the_summary(client, login, admin, tenant, world, run_jobs):
    login(admin)
    assert run_jobs("default")  # the refresh queued by the writes above
    html = _page(client, f"/t/{tenant.slug}/things/")
    assert "Server" in html and "Rack" in html and "New class" in html
    html = _page(client, f"/t/{tenant.slug}/things/?q=ser")
    assert "Server" in html and "Rack" not in html
    assert "<td>1</td>" in html  # one server counted by thing_class_summary


def test_create_class_and_edit_it(client, login, admin, tenant):
    login(admin)
    bad = client.post(f"/t/{tenant.slug}/things/classes", data={"name": "   "}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Name must not be blank." in bad.get_data(as_text=True)
    made = client.post(f"/t/{tenant.slug}/things/classes", data={"name": "Printer"})
    assert made.status_code == 302
    edit = made.headers["Location"]
    html = _page(client, edit)
    assert "Permissions" in html and "Attributes" in html and "Relationships" in html
    dup = client.post(f"/t/{tenant.slug}/things/classes", data={"name": "Printer"}, headers={"HX-Request": "true"})
    assert dup.status_code == 422 and "already exists" in dup.get_data(as_text=True)
    class_url = edit.rsplit("/edit", 1)[0]
    bad_rules = client.post(class_url, data={"name": "Printer", "validation_rules": "[1, 2]"})
    assert bad_rules.status_code == 422 and "Validation rules must be a JSON object" in bad_rules.get_data(as_text=True)
    not_json = client.post(class_url, data={"name": "Printer", "validation_rules": "{oops"})
    assert not_json.status_code == 422 and "must be valid JSON" in not_json.get_data(as_text=True)


def test_class_editor_assigns_attributes_and_relationships(client, login, admin, tenant, world):
    login(admin)
    base = f"/t/{tenant.slug}/things"
    made = client.post(f"{base}/attributes", data={"name": "colour", "data_type": "enum", "enum_values": ""})
    assert made.status_code == 422 and "needs at least one value" in made.get_data(as_text=True)
    made = client.post(f"{base}/attributes", data={"name": "colour", "data_type": "enum", "enum_values": "red, blue"})
    assert made.status_code == 200 and "colour" in made.get_data(as_text=True)
    html = _page(client, f"{base}/classes/{world['rack']}/edit")
    attr_id = html.split('name="attribute_id"')[1].split('value="')[1].split('"')[0]
    assigned = client.post(f"{base}/classes/{world['rack']}/assignments",
                           data={"attribute_id": attr_id, "is_required": "on"})
    assert assigned.status_code == 200 and "red, blue" in assigned.get_data(as_text=True)
    rel = client.post(f"{base}/classes/{world['rack']}/relationships",
                      data={"to_thing_class_id": world["rack"], "relationship_type_id": "",
                            "cardinality": "one_to_one"})
    assert rel.status_code == 422 and "Choose a relationship type." in rel.get_data(as_text=True)
    still_used = client.post(f"{base}/classes/{world['rack']}/relationships/{world['holds']}/delete")
    assert still_used.status_code == 422 and "unlink those things first" in still_used.get_data(as_text=True)


def test_class_editor_toggles_required_and_unassigns(client, login, admin, tenant, world, actors):
    login(admin)
    base = f"/t/{tenant.slug}/things"
    with tenant_context(tenant.id):
        slots = {s.name: s.assignment_id for s in schema.load_schema(actors["admin"], world["server"]).slots}
    required = client.post(f"{base}/classes/{world['server']}/assignments/{slots['ram_gb']}/required",
                           data={"is_required": "on"}, headers={"HX-Request": "true"})
    assert required.status_code == 200 and 'aria-label="Ram gb required" checked' in required.get_data(as_text=True)
    refused = client.post(f"{base}/c/{world['server']}/new", data={"name": "db-1", "v_hostname": "db-1"})
    assert refused.status_code == 422 and "Ram gb is required." in refused.get_data(as_text=True)
    optional = client.post(f"{base}/classes/{world['server']}/assignments/{slots['hostname']}/required", data={})
    assert 'aria-label="Hostname required" checked' not in optional.get_data(as_text=True)
    gone = client.post(f"{base}/classes/{world['server']}/assignments/{slots['ram_gb']}/delete",
                       headers={"HX-Request": "true"})
    assert gone.status_code == 200 and "ram_gb</small>" not in gone.get_data(as_text=True)
    assert 'name="v_ram_gb"' not in _page(client, f"{base}/c/{world['server']}/new")
    made = client.post(f"{base}/c/{world['server']}/new", data={"name": "db-1"})
    assert made.status_code == 302  # hostname is optional now, ram_gb no longer assigned
    with tenant_context(tenant.id):
        assert service.get_thing(actors["admin"], world["s1"]).attribute_values == {"hostname": "web-1", "ram_gb": 16}


def test_edit_form_shows_inline_422_errors_and_saves(client, login, editor, tenant, world, actors):
    login(editor)
    url = f"/t/{tenant.slug}/things/{world['s1']}/edit"
    html = _page(client, url)
    assert 'value="web-1"' in html and 'value="16"' in html
    bad = client.post(url, data={"name": "web-1", "v_hostname": "x" * 21, "v_ram_gb": "0"},
                      headers={"HX-Request": "true"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Hostname must be at most 20 characters (got 21)." in body and "Ram gb must be at least 1 (got 0)." in body
    nul = client.post(url, data={"name": "web\x00"})
    assert nul.status_code == 422 and "name must not contain NUL characters" in nul.get_data(as_text=True)
    good = client.post(url, data={"name": "web-1b", "v_hostname": "web-1b", "v_ram_gb": ""})
    assert good.status_code == 302
    assert "web-1b" in _page(client, good.headers["Location"])
    with tenant_context(tenant.id):
        thing = service.get_thing(actors["editor"], world["s1"])
        assert (thing.name, thing.attribute_values) == ("web-1b", {"hostname": "web-1b"})


def test_generated_form_shows_inline_422_errors(client, login, editor, tenant, world):
    login(editor)
    url = f"/t/{tenant.slug}/things/c/{world['server']}/new"
    html = _page(client, url)
    assert 'name="v_hostname"' in html and 'name="v_ram_gb"' in html and 'type="number"' in html
    bad = client.post(url, data={"name": "db-1", "v_hostname": "", "v_ram_gb": "4096"}, headers={"HX-Request": "true"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Hostname is required." in body and "Ram gb must be at most 1024 (got 4096)." in body
    assert 'aria-invalid="true"' in body and 'value="4096"' in body
    good = client.post(url, data={"name": "db-1", "v_hostname": "db-1", "v_ram_gb": "64"})
    assert good.status_code == 302
    detail = _page(client, good.headers["Location"])
    assert "db-1" in detail and "64" in detail


def test_list_filters_on_attribute_values_and_pages(client, login, viewer, tenant, model, world):
    with tenant_context(tenant.id):
        from strata.db import db
        from strata.things.models import ThingClass
        server = db.session.get(ThingClass, world["server"])
        for i in range(60):
            model.thing(server, f"node-{i:02}", hostname=f"node-{i:02}", ram_gb=8 if i % 2 else 32)
    login(viewer)
    base = f"/t/{tenant.slug}/things/c/{world['server']}/"
    html = _page(client, base + "?ram_gb=eq:32")
    assert "node-00" in html and "node-01" not in html and "Next page" not in html
    html = _page(client, base)
    assert "Next page" in html and "node-49" in html and "node-50" not in html
    cursor = html.split('rel="next"')[0].rsplit('after=', 1)[1].split('"')[0]
    html = _page(client, base + "?after=" + cursor)
    assert "node-50" in html and "web-1" in html and "node-49" not in html
    html = _page(client, base + "?f_field=ram_gb&f_op=gte&f_value=20")
    assert "node-00" in html and "node-01" not in html
    bad = client.get(base + "?ram_gb=gt:lots")
    assert bad.status_code == 422 and "Ram gb must be a whole number" in bad.get_data(as_text=True)


def test_detail_shows_links_both_ways_and_links_by_name(client, login, editor, tenant, model, world):
    login(editor)
    base = f"/t/{tenant.slug}/things"
    server_page = _page(client, f"{base}/{world['s1']}")
    assert "is held by" in server_page and "Rack 1" in server_page
    rack_page = _page(client, f"{base}/{world['r1']}")
    assert "holds" in rack_page and "web-1" in rack_page
    with tenant_context(tenant.id):
        from strata.db import db
        from strata.things.models import ThingClass
        model.thing(db.session.get(ThingClass, world["server"]), "web-2", hostname="web-2")
    ok = client.post(f"{base}/{world['r1']}/links", data={"relationship_id": world["holds"], "to_thing": "web-2"},
                     headers={"HX-Request": "true"})
    assert ok.status_code == 200 and "web-2" in ok.get_data(as_text=True)
    missing = client.post(f"{base}/{world['r1']}/links", data={"relationship_id": world["holds"], "to_thing": "nope"})
    assert missing.status_code == 422 and "No thing is called" in missing.get_data(as_text=True)
    # one-to-many: web-1 already has its rack
    with tenant_context(tenant.id):
        r2 = model.thing(db.session.get(ThingClass, world["rack"]), "Rack 2").id
    taken = client.post(f"{base}/{r2}/links", data={"relationship_id": world["holds"], "to_thing": "web-1"})
    assert taken.status_code == 422 and "already linked from another thing" in taken.get_data(as_text=True)


def test_soft_delete_and_restore(client, login, editor, tenant, world):
    login(editor)
    base = f"/t/{tenant.slug}/things"
    link = ">web-1</a>"
    assert client.post(f"{base}/{world['s1']}/delete").status_code == 302
    assert "Deleted web-1." in _page(client, f"{base}/{world['s1']}")
    assert link not in _page(client, f"{base}/c/{world['server']}/")
    assert link in _page(client, f"{base}/c/{world['server']}/trash")
    assert link not in _page(client, f"{base}/{world['r1']}")  # deleted things leave traversals
    assert "(deleted)" in _page(client, f"{base}/{world['s1']}")
    assert client.post(f"{base}/{world['s1']}/restore").status_code == 302
    assert link in _page(client, f"{base}/c/{world['server']}/")
    assert link in _page(client, f"{base}/{world['r1']}")  # and the link came back with it


def test_things_of_a_class_the_role_cannot_read_leave_traversals(client, login, make_user, tenant, model, actors):
    with tenant_context(tenant.id):
        rack, vault = model.cls("Rack"), model.cls("Vault", permissions={"read": ["editor"]})
        holds = model.relate(rack, vault, model.rtype("holds", "is held by"), bidirectional=True)
        r1, v1 = model.thing(rack, "Rack 1"), model.thing(vault, "Vault 1")
        service.link(actors["editor"], holds.id, r1.id, v1.id)
        r1_id = r1.id
    for role, sees in (("viewer", False), ("editor", True), ("viewer", False)):
        client.post("/logout")
        login(make_user(), tenant=tenant, role=role)
        assert ("Vault 1" in _page(client, f"/t/{tenant.slug}/things/{r1_id}")) is sees
        related = client.get(f"/api/t/{tenant.slug}/things/{r1_id}/related").get_json()["items"]
        assert [r["thing"]["name"] for r in related] == (["Vault 1"] if sees else [])
        body = client.post(f"/api/t/{tenant.slug}/graphql", json={
            "query": 'query($i: ID!) { thing(id: $i) { related { thing { name } } } }', "variables": {"i": str(r1_id)}})
        names = [r["thing"]["name"] for r in body.get_json()["data"]["thing"]["related"]]
        assert names == (["Vault 1"] if sees else [])


@pytest.mark.parametrize("role, can_see, can_create", [("viewer", False, False), ("editor", True, True),
                                                       ("admin", True, True)])
def test_permissions_in_pages(client, login, make_user, tenant, model, role, can_see, can_create):
    with tenant_context(tenant.id):
        secret = model.cls("Secret", permissions={"read": ["editor"], "create": ["editor"]})
        model.thing(secret, "s-1")
        secret_id = secret.id
    login(make_user(), tenant=tenant, role=role)
    base = f"/t/{tenant.slug}/things"
    assert ("Secret" in _page(client, f"{base}/")) is can_see
    assert client.get(f"{base}/c/{secret_id}/").status_code == (200 if can_see else 404)
    assert client.get(f"{base}/c/{secret_id}/new").status_code == (200 if can_create else 404)
    assert client.get(f"{base}/classes/{secret_id}/edit").status_code == (200 if role == "admin" else 403)


def test_viewer_cannot_write_but_reads(client, login, viewer, tenant, world):
    login(viewer)
    base = f"/t/{tenant.slug}/things"
    assert client.get(f"{base}/c/{world['server']}/new").status_code == 403
    assert client.post(f"{base}/{world['s1']}/delete").status_code == 403
    assert "Edit" not in _page(client, f"{base}/{world['s1']}").split("<article>")[0].split("toolbar")[1]


def test_admin_metrics_and_graphql_console(client, login, admin, viewer, tenant, world):
    login(admin)
    html = _page(client, f"/t/{tenant.slug}/things/metrics")
    assert "Server" in html and "things" in html
    html = _page(client, f"/t/{tenant.slug}/things/graphiql")
    assert "graphiql/graphiql.min.js" in html and "js/graphiql.js" in html  # no inline script (CSP)
    with client.get("/static/js/graphiql.js") as script:
        assert script.status_code == 200 and b"GraphiQL.createFetcher" in script.data
    with client.get("/static/vendor/graphiql/graphiql.min.css") as asset:
        assert asset.status_code == 200
    client.post("/logout")
    login(viewer)
    assert client.get(f"/t/{tenant.slug}/things/graphiql").status_code == 403
    assert client.get(f"/t/{tenant.slug}/things/metrics").status_code == 403


def test_another_tenants_thing_is_a_404(client, login, admin, make_tenant, world, tenant):
    other = make_tenant()
    login(admin, tenant=other)
    assert client.get(f"/t/{other.slug}/things/{world['s1']}").status_code == 404
