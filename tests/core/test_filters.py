"""The one filter language: the parser's reading of every form, and one expression meaning the same rows on the
business-object API, the things API and the extension REST."""

import pytest

from strata import filters as flt
from strata.business_objects import definitions
from strata.db import db
from strata.errors import ValidationError
from strata.extensions import executor, registry
from strata.filters import Condition, Group
from strata.tenancy.service import tenant_context
from strata.things import schema
from strata.things.access import Actor
from tests.core.conftest import extension_manifest

PARSED = [
    ("eq.5", Condition("f", "eq", "5")),
    ("not.eq.5", Condition("f", "eq", "5", True)),
    ("neq.a.b", Condition("f", "neq", "a.b")),
    ("like.*a,b)*", Condition("f", "like", "*a,b)*")),
    ('in.("Hebdon, John",x)', Condition("f", "in", ("Hebdon, John", "x"))),
    ('in.("a\\"b","c\\\\")', Condition("f", "in", ('a"b', "c\\"))),
    ("in.( ,3,4)", Condition("f", "in", ("", "3", "4"))),
    ("in.()", Condition("f", "in", ())),
    ("in.(    )", Condition("f", "in", ())),
    ("not.in.(1,2)", Condition("f", "in", ("1", "2"), True)),
    ("is.NULL", Condition("f", "is", None)),
    ("is.unknown", Condition("f", "is", "unknown")),
    ("not.is.true", Condition("f", "is", True, True)),
    # older spellings, read into the same conditions
    ("gte:10", Condition("f", "gte", "10")),
    ("ne:x", Condition("f", "neq", "x")),
    ("in:a,b", Condition("f", "in", ("a", "b"))),
    ("is_null", Condition("f", "is", None)),
    ("notnull", Condition("f", "is", None, True)),
    ("plain value", Condition("f", "eq", "plain value")),
    ("https://example.com", Condition("f", "eq", "https://example.com")),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_conditions_parse_into_one_shape(text, expected):
    assert flt.parse_condition("f", text) == expected


def test_logic_trees_nest_negate_and_quote():
    tree = flt.parse_logic("or", '(a.eq.1, not.and(b.gt.2,c.is.null),d.in.("x,y",z),e.like."*ity,4*")')
    assert tree == Group("or", (
        Condition("a", "eq", "1"),
        Group("and", (Condition("b", "gt", "2"), Condition("c", "is", None)), True),
        Condition("d", "in", ("x,y", "z")),
        Condition("e", "like", "*ity,4*"),
    ))
    assert flt.parse_logic("not.or", "(id.not.eq.1)") == Group("or", (Condition("id", "eq", "1", True),), True)
    assert flt.fields_of([tree]) == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(("key", "text"), [
    ("f", "in.1,2"), ("f", "in.(1,2"), ("f", "is.maybe"), ("f", "like.abc\\"),
    ("f", "above:3"), ("or", "()"), ("or", "(a.eq.1"), ("or", "(a.eq.1))x"), ("and", "(ord(a.eq.1))"),
])
def test_malformed_filters_are_errors_naming_the_parameter(key, text):
    with pytest.raises(ValidationError) as caught:
        flt.parse_filters([(key, text)])
    error = caught.value.errors[0]
    assert error.field == key and error.rule in ("filter", "operator")


@pytest.mark.parametrize(("key", "text"), [
    ("or", "(" + "and(" * 5000 + "a.eq.1" + ")" * 5001),
    ("or", "(" + ",".join(["a.eq.1"] * 5000) + ")"),
    ("a", "in.(" + ",".join(["1"] * 5000) + ")"),
])
def test_hostile_trees_and_lists_are_refused_not_recursed(key, text):
    with pytest.raises(flt.FilterError) as caught:
        flt.parse_filters([(key, text)])
    assert caught.value.errors[0].field == key and len(caught.value.errors[0].message) < 300


def test_strict_mode_refuses_the_older_spellings():
    for text in ("gte:10", "between.1", "plain"):
        with pytest.raises(flt.FilterError) as caught:
            flt.parse_condition("f", text, strict=True)
        assert caught.value.code == "PGRST100"
    assert flt.parse_condition("f", "between.1") == Condition("f", "eq", "between.1")  # a bare value is eq
    assert flt.parse_condition("f", "gte.10", strict=True) == Condition("f", "gte", "10")


def test_like_ending_in_an_escape_is_refused_with_its_sqlstate():
    with pytest.raises(flt.FilterError) as caught:
        flt.parse_condition("f", "like.abc\\")
    assert caught.value.code == "22025"
    assert flt.parse_condition("f", "like.abc\\\\") == Condition("f", "like", "abc\\\\")


def test_order_select_and_form_expressions():
    assert flt.parse_order("a.desc.nullslast, b,-c") == [
        flt.OrderTerm("a", True, "last"), flt.OrderTerm("b"), flt.OrderTerm("c", True)]
    assert flt.parse_select("title,amt:amount") == [("title", "title"), ("amt", "amount")]
    assert flt.parse_select("*") is None
    for bad in ("rel(*)", "a::text", "a->b"):
        with pytest.raises(flt.FilterError):
            flt.parse_select(bad)
    assert [flt.expression(op, "a,b") for op in ("in", "gte", "is_null", "is_not_null")] == [
        "in.(a,b)", "gte.a,b", "is.null", "not.is.null"]


@pytest.mark.parametrize(("limit", "offset", "header", "expected"), [
    (None, None, None, (50, 0)), ("10", "20", None, (10, 20)), ("0", None, None, (0, 0)),
    (None, None, "0-24", (25, 0)), ("3", None, "0-1", (2, 0)), (None, None, "10-", (50, 10)),
    ("5", "2", "0-100", (5, 2)),
])
def test_pages_from_parameters_and_range(limit, offset, header, expected):
    assert flt.parse_page(limit, offset, default_limit=50, max_limit=1000, range_header=header) == expected


@pytest.mark.parametrize(("limit", "offset", "header", "field", "status"), [
    ("-1", None, None, "limit", 416), ("x", None, None, "limit", 400), (None, "-1", None, "offset", 400),
    ("5000", None, None, "limit", 400), (None, None, "5-2", "Range", 416), (None, None, "bytes", "Range", 400),
])
def test_bad_pages_name_the_parameter(limit, offset, header, field, status):
    with pytest.raises(flt.FilterError) as caught:
        flt.parse_page(limit, offset, default_limit=50, max_limit=1000, range_header=header)
    assert caught.value.errors[0].field == field and caught.value.status == status


def test_count_modes_from_prefer():
    assert flt.count_mode(None) == ("estimated", False)
    assert flt.count_mode("return=minimal, count=exact") == ("exact", True)
    assert flt.count_mode("count=bogus") == ("estimated", False)
    assert flt.Total(52000, False).text() == "about 52,000" and flt.Total(42).text() == "42"


# --- one expression, three list APIs ---------------------------------------------------------------------------

ROWS = [("A", "gold", 5), ("B", "silver", 3), ("C", None, 8), ("D", "Hebdon, John", None)]
SAME = [
    ("tier=eq.gold", {"A"}),
    ("tier=not.eq.gold", {"B", "D"}),
    ("tier=neq.gold", {"B", "D"}),
    ('tier=in.(gold,"Hebdon, John")', {"A", "D"}),
    ("tier=not.in.(gold)", {"B", "D"}),
    ("tier=in.()", set()),
    ("tier=is.null", {"C"}),
    ("tier=not.is.null", {"A", "B", "D"}),
    ("tier=ilike.*OL*", {"A"}),
    ("tier=like.s*", {"B"}),
    ("tier=contains.HEB", {"D"}),
    ("score=gte.5", {"A", "C"}),
    ("score=not.gt.3", {"B"}),
    ("score=gt.3&score=lt.8", {"A"}),
    ("or=(tier.eq.gold,score.lt.4)", {"A", "B"}),
    ("and=(score.gte.3,or(tier.is.null,tier.eq.silver))", {"B", "C"}),
    ("not.or=(tier.eq.gold,score.is.null)", {"B"}),
    ("or=(tier.not.eq.gold,score.gt.7)", {"B", "C", "D"}),
]


@pytest.fixture
def lists(client, login, tenant, admin):
    """A company custom field, a thing attribute and an extension column named tier (text) and score (integer),
    with the same four rows in each; return {api: list URL}."""
    admin_id = admin.id
    with tenant_context(tenant.id):
        boss = Actor(admin_id, "admin")
        definitions.define_field("company", "tier", "Tier", "string", actor_id=admin_id)
        definitions.define_field("company", "score", "Score", "integer", actor_id=admin_id)
        cls = schema.create_class(boss, {"name": "Item"})
        for name, data_type in (("tier", "string"), ("score", "integer")):
            schema.assign(boss, cls.id, schema.create_attribute(boss, {"name": name, "data_type": data_type}).id)
        registry.register(extension_manifest([{"name": "name", "type": "String", "required": True},
                                              {"name": "tier", "type": "String"}, {"name": "score", "type": "Int"}],
                                             plugin_id="core-filters"))
        db.session.commit()
        executor.execute("core-filters")
        class_id = cls.id
    login(admin, tenant=tenant)
    base = f"/api/t/{tenant.slug}"
    urls = {"business objects": f"{base}/companies", "things": f"{base}/things/classes/{class_id}/things",
            "extension rows": f"{base}/x/core-filters/item"}
    for name, tier, score in ROWS:
        values = {k: v for k, v in (("tier", tier), ("score", score)) if v is not None}
        for api, body in (("business objects", {"name": name, "custom_fields": values}),
                          ("things", {"name": name, "values": values}),
                          ("extension rows", {"name": name, **values})):
            response = client.post(urls[api], json=body)
            assert response.status_code == 201, (api, response.get_json())
    return urls


def test_one_expression_means_the_same_rows_on_every_list_api(client, lists):
    for query, expected in SAME:
        for api, url in lists.items():
            response = client.get(f"{url}?{query}")
            assert response.status_code == 200, (api, query, response.get_json())
            assert {item["name"] for item in response.get_json()["items"]} == expected, (api, query)


def test_one_bad_expression_is_refused_on_every_list_api(client, lists):
    for query in ("tier=in.(gold", "tier=is.maybe", "score=gt.lots", "or=(tier.eq.gold", "score=in.( ,3)"):
        for api, url in lists.items():
            response = client.get(f"{url}?{query}")
            assert response.status_code in (400, 422), (api, query)
            assert response.get_json()["errors"][0]["field"], (api, query)


def test_business_object_totals_are_exact_up_to_the_bound_then_about(client, login, tenant, admin):
    from sqlalchemy import text

    with tenant_context(tenant.id):
        db.session.execute(text("INSERT INTO companies (name) SELECT 'Company ' || g FROM generate_series(1, 1100) g"))
        db.session.execute(text("ANALYZE companies"))
        db.session.commit()
    login(admin, tenant=tenant)
    body = client.get(f"/api/t/{tenant.slug}/companies?limit=5").get_json()
    assert body["total_exact"] is False and body["total"] > 1000 and len(body["items"]) == 5
    body = client.get(f"/api/t/{tenant.slug}/companies?name=like.Company 1*&limit=5").get_json()
    assert (body["total"], body["total_exact"]) == (212, True)  # 1, 10–19, 100–199, 1000–1100
    page = client.get(f"/t/{tenant.slug}/companies/").get_data(as_text=True)
    assert "1–50 of about " in page
