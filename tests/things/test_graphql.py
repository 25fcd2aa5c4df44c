"""GraphQL at /api/t/<slug>/graphql: queries with filters, cursor pages and traversal, mutations, the depth
limit, a bounded number of SQL statements however many things, class permissions per role, and CSRF."""

import pytest
from sqlalchemy import event

from strata.db import db
from strata.tenancy.service import tenant_context
from strata.things import service


@pytest.fixture
def gql(client, login, admin, tenant):
    login(admin)

    def run(document, variables=None, status=200):
        response = client.post(f"/api/t/{tenant.slug}/graphql", json={"query": document, "variables": variables})
        assert response.status_code == status, response.get_json()
        return response.get_json()

    return run


def _graph(tenant, model, actors, n):
    """n servers, each replicating to the next (bidirectional), in a class with one attribute."""
    with tenant_context(tenant.id):
        cls = model.cls("Server")
        model.assign(cls, model.attr("tier", "enum", enum_values=["gold", "silver"]))
        rel = model.relate(cls, cls, model.rtype("replicates to", "replica of"), "one_to_one", bidirectional=True)
        ids = [model.thing(cls, f"s{i:03}", tier="gold" if i % 2 else "silver").id for i in range(n)]
        for a, b in zip(ids, ids[1:], strict=False):
            service.link(actors["admin"], rel.id, a, b)
        return cls.id, rel.id, ids


DEPTH_5 = """{ things(className: "Server", first: 100) {
  nodes { name values related { label thing { name values } } } } }"""
DEPTH_6 = """{ things(className: "Server") {
  nodes { related { thing { related { label } } } } } }"""


def test_depth_six_is_refused_with_a_message(gql, tenant, model, actors):
    _graph(tenant, model, actors, 2)
    body = gql(DEPTH_6, status=400)
    assert body["data"] is None
    assert body["errors"][0]["message"] == ("This query nests fields 6 levels deep; the limit is 5. Ask for fewer "
                                            "nested fields, or follow the relationship in a second query.")
    assert body["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT"
    fragment = ('query Q { things(className: "Server") { nodes { ...T } } } '
                "fragment T on ThingNode { related { thing { related { label } } } }")
    assert gql(fragment, status=400)["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT"


def _count_statements(call):
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return result, seen


def test_depth_five_over_100_things_runs_a_bounded_number_of_statements(gql, tenant, model, actors):
    _graph(tenant, model, actors, 100)
    body, statements = _count_statements(lambda: gql(DEPTH_5))
    nodes = body["data"]["things"]["nodes"]
    assert len(nodes) == 100 and "errors" not in body
    assert nodes[1]["related"] == [{"label": "replicates to", "thing": {"name": "s002", "values": {"tier": "silver"}}},
                                   {"label": "replica of", "thing": {"name": "s000", "values": {"tier": "silver"}}}]
    small, small_statements = _count_statements(lambda: gql(DEPTH_5.replace("first: 100", "first: 5")))
    assert len(small["data"]["things"]["nodes"]) == 5
    print(f"\ndepth-5 query over 100 things with relationships: {len(statements)} SQL statements "
          f"(5 things: {len(small_statements)})")
    assert len(statements) == len(small_statements) <= 12


def test_filters_cursor_pages_and_class_fields(gql, tenant, model, actors):
    _graph(tenant, model, actors, 5)
    query = """query($after: String) { things(className: "Server", first: 2, after: $after,
        filter: [{attribute: "tier", value: "gold"}]) {
          nodes { name value(name: "tier") } pageInfo { hasNextPage endCursor } } }"""
    first = gql(query)["data"]["things"]
    assert [n["name"] for n in first["nodes"]] == ["s001", "s003"] and first["pageInfo"]["hasNextPage"] is False
    page = gql('{ things(className: "Server", first: 2) { edges { cursor node { name } } '
               "pageInfo { hasNextPage endCursor } } }")
    after = page["data"]["things"]["pageInfo"]["endCursor"]
    rest = gql('query($a: String) { things(className: "Server", after: $a) { nodes { name } } }', {"a": after})
    assert [n["name"] for n in rest["data"]["things"]["nodes"]] == ["s002", "s003", "s004"]
    classes = gql('{ classes(prefix: "se") { nodes { name attributes { name dataType enumValues } '
                  'relationships { label outgoing cardinality otherClass { name } } } } }')
    node = classes["data"]["classes"]["nodes"][0]
    assert node["attributes"] == [{"name": "tier", "dataType": "enum", "enumValues": ["gold", "silver"]}]
    assert {(r["label"], r["outgoing"]) for r in node["relationships"]} == {("replicates to", True),
                                                                          ("replica of", False)}
    bad = gql('{ things(className: "Server", filter: [{attribute: "nope", value: 1}]) { nodes { name } } }')
    assert bad["errors"][0]["extensions"]["errors"][0]["rule"] == "unknown_attribute"


def test_mutations(gql, tenant, model, actors):
    class_id, rel_id, ids = _graph(tenant, model, actors, 2)
    made = gql('mutation($c: ID!) { createThing(classId: $c, name: "s9", values: {tier: "gold"}) { id name values } }',
               {"c": str(class_id)})["data"]["createThing"]
    assert made["values"] == {"tier": "gold"}
    refused = gql('mutation($c: ID!) { createThing(classId: $c, name: " ", values: {tier: "bronze"}) { id } }',
                  {"c": str(class_id)})
    assert refused["data"] is None
    assert {e["field"] for e in refused["errors"][0]["extensions"]["errors"]} == {"name", "tier"}
    updated = gql('mutation($i: ID!) { updateThing(id: $i, values: {tier: "silver"}) { values } }', {"i": made["id"]})
    assert updated["data"]["updateThing"]["values"] == {"tier": "silver"}
    linked = gql('mutation($r: ID!, $f: ID!, $t: ID!) { linkThings(relationshipId: $r, fromId: $f, toId: $t) { id } }',
                 {"r": str(rel_id), "f": made["id"], "t": str(ids[1])})
    assert linked["errors"][0]["extensions"]["errors"][0]["rule"] == "cardinality"  # s001 has its one source
    linked = gql('mutation($r: ID!, $f: ID!, $t: ID!) { linkThings(relationshipId: $r, fromId: $f, toId: $t) { id } }',
                 {"r": str(rel_id), "f": made["id"], "t": str(ids[0])})
    assert linked["data"]["linkThings"]["id"]
    assert gql('mutation($l: ID!) { unlinkThings(linkId: $l) }', {"l": linked["data"]["linkThings"]["id"]})["data"]
    deleted = gql('mutation($i: ID!) { deleteThing(id: $i) { isDeleted } }', {"i": made["id"]})
    assert deleted["data"]["deleteThing"]["isDeleted"] is True
    assert gql('query($i: ID!) { thing(id: $i) { isDeleted } }', {"i": made["id"]})["data"]["thing"]["isDeleted"]
    restored = gql('mutation($i: ID!) { restoreThing(id: $i) { isDeleted } }', {"i": made["id"]})
    assert restored["data"]["restoreThing"]["isDeleted"] is False


def test_a_failed_request_changes_nothing(gql, tenant, model, actors):
    class_id, _, _ = _graph(tenant, model, actors, 1)
    body = gql('mutation($c: ID!) { a: createThing(classId: $c, name: "ok") { id } '
               'b: createThing(classId: $c, name: " ") { id } }', {"c": str(class_id)})
    assert body["errors"]
    names = [n["name"] for n in gql('{ things(className: "Server") { nodes { name } } }')["data"]["things"]["nodes"]]
    assert names == ["s000"]


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_permissions_per_role(client, login, make_user, tenant, model, role):
    with tenant_context(tenant.id):
        hidden = model.cls("Payroll", permissions={"read": ["editor"], "create": []})
        thing_id, hidden_id = model.thing(hidden, "p1").id, hidden.id
    login(make_user(), tenant=tenant, role=role)

    def run(document, variables=None):
        return client.post(f"/api/t/{tenant.slug}/graphql", json={"query": document, "variables": variables}).get_json()

    sees = role != "viewer"
    names = [c["name"] for c in run("{ classes { nodes { name } } }")["data"]["classes"]["nodes"]]
    assert ("Payroll" in names) is sees
    assert (run('query($i: ID!) { thing(id: $i) { name } }', {"i": str(thing_id)})["data"]["thing"] is not None) is sees
    assert (run('{ thingClass(name: "Payroll") { name } }')["data"]["thingClass"] is not None) is sees
    made = run('mutation($c: ID!) { createThing(classId: $c, name: "p2") { id } }', {"c": str(hidden_id)})
    expected = {"viewer": "NOT_FOUND", "editor": "FORBIDDEN", "admin": None}[role]
    if expected is None:
        assert made["data"]["createThing"]["id"]
    else:
        assert made["errors"][0]["extensions"]["code"] == expected


def test_csrf_token_is_required_with_protection_on(make_app, make_user, make_tenant):
    app = make_app(WTF_CSRF_ENABLED=True)
    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = login.split('name="csrf-token" content="')[1].split('"')[0]
    from tests.conftest import TEST_PASSWORD
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token})
    token = client.get(f"/api/t/{tenant.slug}/").get_json()["csrf_token"]  # signing in starts a new session
    url = f"/api/t/{tenant.slug}/graphql"
    assert client.post(url, json={"query": "{ classes { nodes { name } } }"}).status_code == 400
    ok = client.post(url, json={"query": "{ classes { nodes { name } } }"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["data"] == {"classes": {"nodes": []}}


NESTED = """{ classes(prefix: "Rack", first: %d) { nodes { name thingCount
  things(first: 3) { nodes { name values classId } pageInfo { hasNextPage endCursor } } } } }"""


def test_things_nested_under_classes_load_together(gql, tenant, model, actors):
    with tenant_context(tenant.id):
        ids = {}
        for c in range(8):
            cls = model.cls(f"Rack {c}")
            ids[cls.name] = str(cls.id)
            for i in range(c % 5):  # 0 to 4 things: pages shorter than, equal to and longer than 3
                model.thing(cls, f"r{c}-{i}")
        secret = model.cls("Rack secret", permissions={"read": ["editor"]})
        model.thing(secret, "hidden")
    two, two_statements = _count_statements(lambda: gql(NESTED % 2))
    eight, eight_statements = _count_statements(lambda: gql(NESTED % 9))
    assert "errors" not in eight
    classes = {node["name"]: node["things"] for node in eight["data"]["classes"]["nodes"]}
    assert len(classes) == 9 and [n["name"] for n in classes["Rack 4"]["nodes"]] == ["r4-0", "r4-1", "r4-2"]
    assert classes["Rack 4"]["pageInfo"]["hasNextPage"] and not classes["Rack 3"]["pageInfo"]["hasNextPage"]
    assert classes["Rack 0"] == {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert classes["Rack 2"]["nodes"][0] == {"name": "r2-0", "values": {}, "classId": ids["Rack 2"]}
    after = classes["Rack 4"]["pageInfo"]["endCursor"]
    rest = gql('{ classes(prefix: "Rack 4") { nodes { things(first: 3, after: $after) { nodes { name } } } } }'
               .replace("{ classes", "query Q($after: String) { classes"), {"after": after})
    assert rest["data"]["classes"]["nodes"][0]["things"]["nodes"] == [{"name": "r4-3"}]
    print(f"\nclasses {{ things }}: {len(eight_statements)} SQL statements for 9 classes "
          f"(2 classes: {len(two_statements)})")
    assert len(two["data"]["classes"]["nodes"]) == 2
    assert len(eight_statements) == len(two_statements) <= 8


def test_nested_things_follow_class_permissions(client, login, viewer, tenant, model):
    with tenant_context(tenant.id):
        model.thing(model.cls("Rack open"), "visible")
        model.thing(model.cls("Rack secret", permissions={"read": ["editor"]}), "hidden")
    login(viewer)
    body = client.post(f"/api/t/{tenant.slug}/graphql", json={"query": NESTED % 10}).get_json()
    assert {n["name"]: [t["name"] for t in n["things"]["nodes"]] for n in body["data"]["classes"]["nodes"]} == \
        {"Rack open": ["visible"]}


def test_bad_ids_cursors_and_text_are_refused_not_crashes(gql, tenant, model, actors):
    class_id, _, _ = _graph(tenant, model, actors, 1)
    big = "9" * 20  # beyond bigint
    assert gql('query($i: ID!) { thing(id: $i) { name } }', {"i": big})["data"]["thing"] is None
    refused = gql('mutation($i: ID!) { deleteThing(id: $i) { id } }', {"i": big})
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    linked = gql('mutation($r: ID!) { linkThings(relationshipId: $r, fromId: "1", toId: "2") { id } }', {"r": big})
    assert linked["errors"][0]["extensions"]["errors"] == [
        {"field": "relationship_id", "rule": "exists", "message": "Choose an existing relationship."}]
    cursor = gql('{ things(className: "Server", after: "WzEsIDJd") { nodes { name } } }')  # [1, 2]
    assert cursor["errors"][0]["extensions"]["errors"][0]["field"] == "after"
    nul = gql('mutation($c: ID!, $n: String!) { createThing(classId: $c, name: $n) { id } }',
              {"c": str(class_id), "n": "a\x00b"}, status=422)
    assert nul["errors"][0]["field"] == "variables.n" and "NUL" in nul["errors"][0]["message"]
