"""PostgREST's own reference cases, run against the extension REST.

Each case names where it comes from: PostgREST's test suite (repository PostgREST/postgrest,
test/spec/Feature/Query/*.hs, by `describe`/`it` title), its query parser (src/PostgREST/ApiRequest/
QueryParams.hs) or its documentation (docs.postgrest.org, references/api/tables_views.rst). Cases are
adapted to tables installed here: `entity` stands for PostgREST's `entities` (ids 1–4, entity 4 without a
name), `person` for `w_or_wo_comma_names`, `item` for `items` (ids 1–15); the row key is `num`. Our list
answers `{items, total, total_exact, limit, offset}` instead of a bare array; headers and statuses are
PostgREST's.
"""

from urllib.parse import quote

import pytest

PEOPLE = ["Hebdon, John", "Williams, Mary", "Smith, Joseph", "David White", "Larry Thompson", "Double O Seven(007)",
          '"', 'Double"Quote"McGraw"', "\\", "/\\Slash/\\Beast/\\"]
MANIFEST = {
    "pluginId": "pgrst-ref", "version": "1.0.0",
    "metadata": {"namespace": "pgrst", "description": "PostgREST reference cases", "author": "Tests"},
    "tables": [
        {"name": "entity", "fields": [{"name": "num", "type": "Int", "required": True},
                                      {"name": "name", "type": "String"}, {"name": "flag", "type": "Boolean"}]},
        {"name": "person", "fields": [{"name": "name", "type": "String", "required": True}]},
        {"name": "item", "fields": [{"name": "num", "type": "Int", "required": True}]},
    ],
}
ENTITIES = [{"num": 1, "name": "entity 1", "flag": True}, {"num": 2, "name": "entity 2", "flag": False},
            {"num": 3, "name": "entity 3", "flag": True}, {"num": 4}]


@pytest.fixture
def rest(client, login, tenant, admin):
    """Install the reference tables with their rows; return a GET helper on /x/pgrst-ref/<table>."""
    login(admin, tenant=tenant)
    api = f"/api/t/{tenant.slug}"
    assert client.post(f"{api}/extensions/pgrst-ref/schema", json=MANIFEST).status_code == 201
    assert client.post(f"{api}/extensions/pgrst-ref/migrations/execute").status_code == 200
    for table, rows in (("entity", ENTITIES), ("person", [{"name": n} for n in PEOPLE]),
                        ("item", [{"num": i} for i in range(1, 16)])):
        for row in rows:
            assert client.post(f"{api}/x/pgrst-ref/{table}", json=row).status_code == 201

    def get(table, query="", **headers):
        return client.get(f"{api}/x/pgrst-ref/{table}?{query}", headers=headers)

    return get


def nums(response):
    assert response.status_code in (200, 206), response.get_json()
    return [row["num"] for row in response.get_json()["items"]]


def names(response):
    assert response.status_code in (200, 206), response.get_json()
    return [row["name"] for row in response.get_json()["items"]]


# QuerySpec.hs, describe "values with quotes in IN and NOT IN"
QUOTED_IN = [
    ('name=in.("Hebdon, John")', ["Hebdon, John"]),  # it "succeeds when only quoted values are present"
    ('name=in.("Hebdon, John","Williams, Mary","Smith, Joseph")', ["Hebdon, John", "Williams, Mary", "Smith, Joseph"]),
    ('name=not.in.("Hebdon, John","Williams, Mary","Smith, Joseph")&limit=3',
     ["David White", "Larry Thompson", "Double O Seven(007)"]),
    ('name=in.("Double O Seven(007)")', ["Double O Seven(007)"]),  # it "succeeds w/ and w/o quoted values"
    ('name=in.(David White,"Hebdon, John")', ["Hebdon, John", "David White"]),
    # docs tables_views.rst "Reserved characters": backslash escapes a double quote or a backslash
    ('name=in.("\\"","Double\\"Quote\\"McGraw\\"")', ['"', 'Double"Quote"McGraw"']),
    ('name=in.("\\\\","/\\\\Slash/\\\\Beast/\\\\")', ["\\", "/\\Slash/\\Beast/\\"]),
]


def test_quoted_and_escaped_values_in_lists(rest):
    for query, expected in QUOTED_IN:
        assert names(rest("person", query)) == expected, query


# QuerySpec.hs, describe "IN and NOT IN empty set"
def test_empty_in_lists_and_empty_items(rest):
    assert nums(rest("entity", "num=in.()")) == []  # it "returns an empty result for IN when no value is present"
    assert nums(rest("entity", "num=not.in.()&order=num")) == [1, 2, 3, 4]  # it "returns all results for not in…"
    assert nums(rest("entity", "num=in.(    )")) == []  # it "returns an empty result ignoring spaces"
    # it "only returns an empty result set if the in value is empty": `( ,3,4)` has an empty item, 400 / 22P02
    response = rest("entity", "num=in.( ,3,4)")
    assert response.status_code == 400 and response.get_json()["code"] == "22P02"
    assert names(rest("person", 'name=in.( ,"Hebdon, John")')) == ["Hebdon, John"]  # a text column takes ""


# AndOrParamsSpec.hs, describe "and/or params used for complex boolean logic" (GET); id → num
AND_OR = [
    ("or=(num.eq.1,num.eq.2)", [1, 2]),  # it "can do simple logic"
    ("not.or=(num.eq.1,num.eq.2)", [3, 4]),  # it "can negate simple logic"
    ("or=(num.eq.1,num.eq.2)&name=eq.entity 1", [1]),  # it "can be combined with traditional filters"
    ("or=(and(name.eq.entity 2,num.eq.2),and(name.eq.entity 1,num.eq.1))", [1, 2]),  # "can be nested …"
    ("or=(not.and(name.eq.entity 2,num.eq.2),not.and(name.eq.entity 1,num.eq.1))", [1, 2, 3, 4]),  # "negated …"
    ("and=(num.eq.1,name.eq.entity 1)&or=(num.eq.1,num.eq.2)", [1]),  # it "can be combined unnested"
    ("and=(num.eq.1,num.neq.2)", [1]),  # it "can handle eq and neq"
    ("or=(num.lt.2,num.gt.3)", [1, 4]),  # it "can handle lt and gt"
    ("or=(num.lte.2,num.gte.3)", [1, 2, 3, 4]),  # it "can handle lte and gte"
    ("or=(name.like.*1,name.ilike.*ENTITY 2)", [1, 2]),  # it "can handle like and ilike"
    ("or=(num.in.(1,2),num.in.(3,4))", [1, 2, 3, 4]),  # it "can handle in"
    ("and=(name.is.null,flag.is.null)", [4]),  # it "can handle is" (arr → flag)
    ("and=(num.not.eq.2,name.not.like.*3)", [1]),  # it "eq, cs, like can be negated" (without the array column)
    ("and=(num.not.in.(1,3),name.not.is.null)", [2]),  # it "in, is, fts can be negated" (without fts)
    ("and=(name.not.ilike.*ITY2,or(num.not.gt.4,num.not.lte.1))", [1, 2, 3]),  # it "gt, lte, ilike can be negated"
    ('or=(num.in.("1","2"),num.in.("3","4"))', [1, 2, 3, 4]),  # it "in can have quotes"
    ("and=( and ( num.in.( 1, 2, 3 ) , num.eq.3 ) , or ( num.eq.2 , num.eq.3 ) )", [3]),  # it "allows whitespace"
    ("or=(num.eq.1)", [1]),  # it "can have a single condition"
    ("and=(num.eq.1)", [1]),
    ("or=(num.eq.1, num.eq.2, num.eq.3)", [1, 2, 3]),  # it "can have three conditions"
    ("and=(num.in.(1,2), num.in.(3,1), num.in.(1,4))", [1]),
    ("or=( num.eq.1, num.eq.2, and(num.in.(1,3), num.in.(2,3)), num.eq.4 )", [1, 2, 3, 4]),  # "four conditions"
    ("and=( num.eq.1, not.or(num.eq.2, num.eq.3), num.in.(1,4), or(num.eq.1, num.eq.4) )", [1]),
    # docs tables_views.rst "Logical operators": and=(…,or(…)) and not.and
    ("and=(num.gte.2,flag.is.true,or(num.eq.3,num.is.null))", [3]),
    ("not.and=(num.gte.2,flag.is.false)&order=num", [1, 3, 4]),
]


def test_and_or_trees(rest):
    for query, expected in AND_OR:
        assert sorted(nums(rest("entity", query))) == expected, query


# AndOrParamsSpec.hs, context "and/or params with quotes" (grandchild names → people with commas and parentheses)
def test_quoted_values_inside_logic_trees(rest):
    assert names(rest("person", 'or=(name.eq."Hebdon, John",name.eq."Double O Seven(007)")')) == [
        "Hebdon, John", "Double O Seven(007)"]  # it "eq can have quotes"
    assert names(rest("person", 'or=(name.like."*n, J*",name.ilike."*SEVEN(007)")')) == [
        "Hebdon, John", "Double O Seven(007)"]  # it "like and ilike can have quotes"


# docs tables_views.rst "Operators" (negation with not., is.true / is.false / is.null) and QueryParams.hs pTriVal
# (is.null | is.unknown | is.true | is.false, any case)
NEGATED = [
    ("num=not.eq.2", [1, 3, 4]), ("num=not.neq.2", [2]), ("num=not.lt.3", [3, 4]), ("num=not.lte.3", [4]),
    ("num=not.gt.2", [1, 2]), ("num=not.gte.2", [1]), ("name=not.like.*1", [2, 3]), ("name=not.ilike.*Y 1", [2, 3]),
    ("num=not.in.(1,2)", [3, 4]), ("name=not.is.null", [1, 2, 3]), ("flag=is.true", [1, 3]),
    ("flag=not.is.true", [2, 4]), ("flag=is.FALSE", [2]), ("flag=is.unknown", [4]), ("flag=not.is.unknown", [1, 2, 3]),
]


def test_every_operator_negated(rest):
    for query, expected in NEGATED:
        assert sorted(nums(rest("entity", query))) == expected, query


# QuerySpec.hs, describe "Shaping response with select parameter" (select=id, aliases) and ErrorSpec 42703
def test_select_projects_and_aliases_columns(rest):
    body = rest("entity", "select=num&order=num.desc&limit=2").get_json()
    assert body["items"] == [{"num": 4}, {"num": 3}]
    body = rest("entity", "select=myNum:num,name&num=eq.1").get_json()
    assert body["items"] == [{"myNum": 1, "name": "entity 1"}]
    missing = rest("entity", "select=nope")
    assert missing.status_code == 400 and missing.get_json()["code"] == "42703"


# RangeSpec.hs, describe "GET /items"
def test_limit_offset_range_and_counts(rest):
    limited = rest("item", "order=num&limit=3&offset=2")  # it "limit and offset works on first level"
    assert nums(limited) == [3, 4, 5] and limited.headers["Content-Range"].startswith("2-4/")
    zero = rest("item", "limit=0")  # it "succeeds and returns an empty array if limit equals 0": here with its count
    assert zero.status_code == 200 and zero.get_json()["items"] == [] and zero.get_json()["total"] == 15
    assert zero.headers["Content-Range"] == "*/15"
    negative = rest("item", "limit=-1")  # it "fails if limit is negative"
    assert negative.status_code == 416 and negative.get_json()["code"] == "PGRST103"
    assert negative.get_json()["details"] == "Limit should be greater than or equal to zero."
    # it "refuses a range requesting start past last item"
    past = rest("item", "offset=100", Prefer="count=exact")
    assert past.status_code == 416 and past.headers["Content-Range"] == "*/15"
    assert past.get_json() == {"code": "PGRST103", "message": "Requested range not satisfiable", "hint": None,
                               "details": "An offset of 100 was requested, but there are only 15 rows."}
    # it "headers override get parameters": Range 0-1 with limit=3 gives two rows
    assert nums(rest("item", "order=num&limit=3", Range="0-1")) == [1, 2]
    # it "handles ranges beyond collection length via truncation"
    beyond = rest("item", "order=num", Range="10-100")
    assert nums(beyond) == [11, 12, 13, 14, 15] and beyond.headers["Content-Range"] == "10-14/15"
    # it "fails with 416 for offside range"
    offside = rest("item", "", Range="1-0", **{"Range-Unit": "items"})
    assert offside.status_code == 416 and offside.get_json()["details"] == (
        "The lower boundary must be lower than or equal to the upper boundary in the Range header.")
    # it "ignores limit/offset on the planned count" (exact here): part of a counted result is 206
    partial = rest("item", "order=num&limit=2&offset=3", Prefer="count=exact")
    assert partial.status_code == 206 and partial.headers["Content-Range"] == "3-4/15"
    whole = rest("item", "order=num", Prefer="count=planned")  # it "obtains the full range"
    assert whole.status_code == 200 and whole.headers["Content-Range"] == "0-14/15"
    # context "when I don't want the count"
    assert rest("item", "order=num", Prefer="count=none").headers["Content-Range"] == "0-14/*"
    assert rest("item", "num=gt.100", Prefer="count=none").headers["Content-Range"] == "*/*"


def test_planned_and_estimated_counts_say_they_are_estimates(rest):
    planned = rest("item", "num=gt.8&limit=2", Prefer="count=planned").get_json()
    assert planned["total_exact"] is False and isinstance(planned["total"], int)
    exact = rest("item", "num=gt.8&limit=2", Prefer="count=estimated").get_json()
    assert exact["total_exact"] is True and exact["total"] == 7  # under the bound, estimated counts exactly


# AndOrParamsSpec.hs it "cannot have zero conditions" (PGRST100 body); PostgreSQL 22025 for a LIKE pattern
# ending in its escape character, which PostgREST passes on as a 400
def test_filter_errors_are_400_with_postgrest_body(rest):
    empty = rest("entity", "or=()")
    body = empty.get_json()
    assert empty.status_code == 400 and body["code"] == "PGRST100" and set(body) >= {"message", "details", "hint"}
    assert body["errors"][0]["field"] == "or"
    backslash = rest("person", "name=like.abc\\")
    assert backslash.status_code == 400 and backslash.get_json()["code"] == "22025"
    assert rest("person", "name=like." + quote("*\\\\")).status_code == 200  # an escaped backslash is fine
    for query, code in (("num=eq.x", "22P02"), ("nope=eq.1", "42703"), ("num=between.1", "PGRST100"),
                        ("num=1", "PGRST100"), ("order=num.sideways", "PGRST100"), ("num=is.maybe", "PGRST100")):
        response = rest("entity", query)
        assert response.status_code == 400 and response.get_json()["code"] == code, query


def test_write_validation_stays_422_with_field_and_rule(client, rest, tenant):
    response = client.post(f"/api/t/{tenant.slug}/x/pgrst-ref/entity", json={"num": "many"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "num" and response.get_json()["errors"][0]["rule"]


def test_counts_beyond_the_bound_are_estimates_unless_exact_is_asked(client, rest, tenant):
    """Counts that scale (exact up to strata.filters.EXACT_BOUND, the planner's estimate beyond)."""
    from sqlalchemy import text

    from strata.db import db
    from strata.tenancy.service import tenant_context

    with tenant_context(tenant.id):
        db.session.execute(text("INSERT INTO plugin_pgrst_item (num) SELECT g FROM generate_series(16, 1600) g"))
        db.session.execute(text("ANALYZE plugin_pgrst_item"))
        db.session.commit()
    for query in ("limit=5", "num=gt.10&limit=5"):  # unfiltered (the table's estimate) and filtered (EXPLAIN)
        body = rest("item", query).get_json()
        assert body["total_exact"] is False and body["total"] > 1000, query
    exact = rest("item", "num=gt.10&limit=5", Prefer="count=exact")
    assert exact.get_json()["total"] == 1590 and exact.get_json()["total_exact"] is True
    assert exact.status_code == 206 and exact.headers["Content-Range"] == "0-4/1590"
    assert rest("item", "num=lte.1000&limit=5").get_json()["total"] == 1000  # at the bound: still exact
