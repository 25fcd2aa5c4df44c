"""The things JSON API: definitions, CRUD, filters with cursor pages, links, 422 error shape, roles and
class permissions, tenant isolation."""

import pytest

from strata.tenancy.service import tenant_context


@pytest.fixture
def api(client, login, admin, tenant):
    prefix = f"/api/t/{tenant.slug}/things"

    class Api:
        def as_(self, user):
            client.post("/logout")
            login(user)
            return self

        def __getattr__(self, method):
            def call(path, status=None, **kw):
                response = getattr(client, method)(prefix + path, **kw)
                if status is not None:
                    assert response.status_code == status, response.get_json()
                return response

            return call

    login(admin)
    return Api()


@pytest.fixture
def defined(api):
    """A Server class with a required hostname and a ram_gb attribute, and a self relationship."""
    cls = api.post("/classes", json={"name": "Server"}, status=201).get_json()
    host = api.post("/attributes", json={"name": "hostname", "data_type": "string",
                                         "constraints": {"max_length": 20}}, status=201).get_json()
    ram = api.post("/attributes", json={"name": "ram_gb", "data_type": "integer",
                                        "constraints": {"min": 1}}, status=201).get_json()
    api.post(f"/classes/{cls['id']}/assignments", json={"attribute_id": host["id"], "is_required": True}, status=201)
    api.post(f"/classes/{cls['id']}/assignments", json={"attribute_id": ram["id"]}, status=201)
    rtype = api.post("/relationship-types", json={"name": "replicates to", "inverse_name": "replica of"},
                     status=201).get_json()
    rel = api.post(f"/classes/{cls['id']}/relationships", json={
        "to_thing_class_id": cls["id"], "relationship_type_id": rtype["id"], "cardinality": "one_to_many",
        "is_bidirectional": True}, status=201).get_json()
    return {"class": cls["id"], "rel": rel["id"]}


def test_definitions_round_trip(api, defined):
    body = api.get(f"/classes/{defined['class']}", status=200).get_json()
    assert [a["name"] for a in body["attributes"]] == ["hostname", "ram_gb"]
    assert body["attributes"][0]["required"] is True
    assert {(r["label"], r["outgoing"]) for r in body["relationships"]} == {("replicates to", True),
                                                                          ("replica of", False)}
    dup = api.post("/classes", json={"name": "Server"}, status=422).get_json()
    assert dup["errors"] == [{"field": "name", "rule": "unique",
                              "message": "A thing class named 'Server' already exists."}]
    bad = api.post("/classes", json={"name": "X", "permissions": ["read"]}, status=422).get_json()
    assert bad["errors"][0]["rule"] == "json_object"
    assert api.post("/classes", data="nope", status=422).get_json()["errors"][0]["field"] == "body"
    assert api.get("/classes?prefix=SER", status=200).get_json()["items"][0]["name"] == "Server"


def test_thing_crud_soft_delete_and_restore(api, defined):
    url = f"/classes/{defined['class']}/things"
    bad = api.post(url, json={"name": "a", "values": {"ram_gb": 0}}, status=422).get_json()
    assert {(e["field"], e["rule"]) for e in bad["errors"]} == {("hostname", "required"), ("ram_gb", "min")}
    made = api.post(url, json={"name": "a", "values": {"hostname": "a", "ram_gb": "4"}}, status=201).get_json()
    assert made["values"] == {"hostname": "a", "ram_gb": 4}
    changed = api.patch(f"/{made['id']}", json={"values": {"ram_gb": 8}}, status=200).get_json()
    assert changed["values"] == {"hostname": "a", "ram_gb": 8}
    assert api.delete(f"/{made['id']}", status=200).get_json()["is_deleted"] is True
    assert api.get(url, status=200).get_json()["items"] == []
    assert [t["name"] for t in api.get(url + "?deleted=1").get_json()["items"]] == ["a"]
    assert api.post(f"/{made['id']}/restore", status=200).get_json()["is_deleted"] is False
    assert [t["name"] for t in api.get(url).get_json()["items"]] == ["a"]


def test_filters_and_cursor_pages(api, defined):
    url = f"/classes/{defined['class']}/things"
    for i in range(7):
        api.post(url, json={"name": f"n{i}", "values": {"hostname": f"h{i}", "ram_gb": i + 1}}, status=201)
    first = api.get(url + "?ram_gb=gte:3&limit=3", status=200).get_json()
    assert [t["name"] for t in first["items"]] == ["n2", "n3", "n4"]
    second = api.get(url + f"?ram_gb=gte:3&limit=3&after={first['next_cursor']}", status=200).get_json()
    assert [t["name"] for t in second["items"]] == ["n5", "n6"] and second["next_cursor"] is None
    assert [t["name"] for t in api.get(url + "?hostname=h4").get_json()["items"]] == ["n4"]
    assert [t["name"] for t in api.get(url + "?hostname=contains:H1").get_json()["items"]] == ["n1"]
    bad = api.get(url + "?colour=red", status=422).get_json()
    assert bad["errors"][0] == {"field": "colour", "rule": "unknown_attribute",
                                "message": "'colour' is not an attribute of Server to filter on."}
    assert api.get(url + "?after=zzz", status=422).get_json()["errors"][0]["field"] == "after"
    assert api.get(url + "?limit=1000", status=422).get_json()["errors"][0]["field"] == "limit"


def test_links_and_related(api, defined):
    url = f"/classes/{defined['class']}/things"
    a, b, c = (api.post(url, json={"name": n, "values": {"hostname": n}}, status=201).get_json()["id"]
               for n in ("a", "b", "c"))
    link = api.post("/links", json={"relationship_id": defined["rel"], "from_id": a, "to_id": b}, status=201)
    refused = api.post("/links", json={"relationship_id": defined["rel"], "from_id": c, "to_id": b}, status=422)
    assert refused.get_json()["errors"][0]["rule"] == "cardinality"
    items = api.get(f"/{b}/related").get_json()["items"]
    assert [(r["label"], r["thing"]["name"]) for r in items] == [("replica of", "a")]
    api.delete(f"/links/{link.get_json()['id']}", status=204)
    assert api.get(f"/{b}/related").get_json()["items"] == []


ROLES = ["viewer", "editor", "admin"]


@pytest.mark.parametrize("role", ROLES)
def test_permissions_per_role(api, make_user, tenant, model, role):
    """Read needs the class's read permission (404 otherwise); writes need create/update/delete (403)."""
    with tenant_context(tenant.id):
        hidden = model.cls("Payroll", permissions={"read": ["editor"], "create": [], "update": ["editor"],
                                                   "delete": []})
        open_ = model.cls("Notes")
        payslip, note = model.thing(hidden, "p1").id, model.thing(open_, "n1").id
        hidden_id, open_id = hidden.id, open_.id
    api.as_(_member(make_user, tenant, role))
    names = [c["name"] for c in api.get("/classes").get_json()["items"]]
    sees_hidden = role != "viewer"
    assert ("Payroll" in names) is sees_hidden and "Notes" in names
    assert api.get(f"/{payslip}").status_code == (200 if sees_hidden else 404)
    assert api.get(f"/classes/{hidden_id}/things").status_code == (200 if sees_hidden else 404)
    create = api.post(f"/classes/{hidden_id}/things", json={"name": "p2"})
    assert create.status_code == {"viewer": 404, "editor": 403, "admin": 201}[role]
    update = api.patch(f"/{payslip}", json={"name": "p1b"})
    assert update.status_code == {"viewer": 404, "editor": 200, "admin": 200}[role]
    assert api.delete(f"/{payslip}").status_code == {"viewer": 404, "editor": 403, "admin": 200}[role]
    note_create = api.post(f"/classes/{open_id}/things", json={"name": "n2"})
    assert note_create.status_code == (403 if role == "viewer" else 201)
    assert api.post("/classes", json={"name": "New"}).status_code == (201 if role == "admin" else 403)
    assert api.get(f"/{note}").status_code == 200


def _member(make_user, tenant, role):
    from strata.accounts.models import Membership
    from strata.db import db
    user = make_user()
    db.session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
    db.session.commit()
    return user


def test_another_tenants_ids_are_404(api, client, login, admin, make_tenant, defined):
    made = api.post(f"/classes/{defined['class']}/things", json={"name": "a", "values": {"hostname": "a"}},
                    status=201).get_json()
    other = make_tenant(members={admin: "admin"})
    response = client.get(f"/api/t/{other.slug}/things/{made['id']}")
    assert response.status_code == 404
    assert client.get(f"/api/t/{other.slug}/things/classes/{defined['class']}").status_code == 404


def test_requires_sign_in(client, tenant):
    assert client.get(f"/api/t/{tenant.slug}/things/classes").status_code == 401


BIG = "9" * 20  # beyond bigint


@pytest.mark.parametrize("method, path, body, field, rule", [
    ("post", "/classes", {"name": "D", "description": 5}, "description", "type"),
    ("post", "/classes", {"name": "D", "is_active": "false"}, "is_active", "type"),
    ("post", "/classes", {"name": "nul\x00"}, "name", "text"),
    ("post", "/classes", {"name": "\ud800"}, "name", "text"),
    ("get", "/classes?prefix=a%00", None, "prefix", "text"),
    ("get", "/classes?limit=%C2%B2", None, "limit", "range"),
    ("get", "/classes?after=WyJhIiwgImIiXQ", None, "after", "cursor"),  # ["a", "b"]: well formed, wrong types
    ("get", "/classes/{class}/things?after=WzEsIDJd", None, "after", "cursor"),  # [1, 2]
    ("post", "/attributes", {"name": "a" * 120, "data_type": "string"}, "name", "format"),
    ("post", "/attributes", {"name": "lab", "label": "L" * 256, "data_type": "string"}, "label", "max_length"),
    ("post", "/attributes", {"name": "desc", "description": 7, "data_type": "string"}, "description", "type"),
    ("post", "/attributes", {"name": "code", "data_type": "string", "constraints": {"min_length": 5, "max_length": 2}},
     "constraints", "range"),
    ("post", "/attributes", {"name": "ref", "data_type": "reference", "reference_class_id": BIG},
     "reference_class_id", "exists"),
    ("post", "/relationship-types", {"name": "r", "inverse_name": "ri", "description": ["x"]}, "description", "type"),
    ("post", "/classes/{class}/assignments", {"attribute_id": BIG}, "attribute_id", "exists"),
    ("post", "/classes/{class}/assignments", {"attribute_id": "{attribute}", "is_required": "false"}, "is_required",
     "type"),
    ("post", "/classes/{class}/relationships", {"to_thing_class_id": "{class}", "relationship_type_id": "{rtype}",
                                                "cardinality": "many_to_many", "is_bidirectional": "no"},
     "is_bidirectional", "type"),
    ("post", "/classes/{class}/relationships", {"to_thing_class_id": BIG, "relationship_type_id": "{rtype}",
                                                "cardinality": "many_to_many"}, "to_thing_class_id", "exists"),
    ("post", "/classes/{class}/relationships", {"to_thing_class_id": "{class}", "relationship_type_id": BIG,
                                                "cardinality": "many_to_many"}, "relationship_type_id", "exists"),
    ("post", "/classes/{class}/relationships", {"to_thing_class_id": "{class}", "relationship_type_id": "{rtype}",
                                                "cardinality": "many_to_many", "max": "²"}, "max", "type"),
    ("post", "/classes/{class}/relationships", {"to_thing_class_id": "{class}", "relationship_type_id": "{rtype}",
                                                "cardinality": "many_to_many", "max": BIG}, "max", "type"),
    ("patch", "/classes/{class}", {"validation_rules": {"ordered": [[["a"], ["b"]]]}}, "validation_rules", "ordered"),
    ("patch", "/classes/{class}", {"validation_rules": {"name_pattern": 5}}, "validation_rules", "name_pattern"),
    ("post", "/links", {}, "relationship_id", "exists"),
    ("post", "/links", {"relationship_id": BIG, "from_id": 1, "to_id": 2}, "relationship_id", "exists"),
    ("post", "/links", {"relationship_id": "{rel}", "from_id": BIG, "to_id": "{thing}"}, "from_thing_id", "exists"),
    ("post", "/classes/{class}/things", {"name": "t", "values": {"hostname": "a\x00b"}}, "values.hostname", "text"),
])
def test_bad_input_is_a_422_naming_the_field(api, defined, method, path, body, field, rule):
    """Input the domain or the database cannot take is refused with the field and the rule, never a 500."""
    thing = api.post(f"/classes/{defined['class']}/things", json={"name": "t", "values": {"hostname": "t"}},
                     status=201).get_json()["id"]
    rtype = api.get("/relationship-types").get_json()["items"][0]["id"]
    attribute = api.post("/attributes", json={"name": "spare", "data_type": "string"}, status=201).get_json()["id"]
    ids = {"{class}": defined["class"], "{rel}": defined["rel"], "{thing}": thing, "{rtype}": rtype,
           "{attribute}": attribute}

    def fill(value):
        return ids.get(value, value) if isinstance(value, str) else value

    path = path.replace("{class}", str(defined["class"]))
    kwargs = {} if body is None else {"json": {k: fill(v) for k, v in body.items()}}
    errors = api.__getattr__(method)(path, status=422, **kwargs).get_json()["errors"]
    assert (errors[0]["field"], errors[0]["rule"]) == (field, rule), errors
    assert errors[0]["message"]
