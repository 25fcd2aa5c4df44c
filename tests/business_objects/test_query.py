"""Listing business objects: typed filters and sorts on custom fields, search, pages, statement count."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from strata.business_objects import query
from strata.business_objects.query import Filter, Sort
from strata.db import db
from strata.errors import ValidationError


def _names(page) -> list[str]:
    return [row.name for row in page.rows]


@pytest.fixture
def companies(scoped, bo):
    bo.field("company", "employees", "integer")
    bo.field("company", "founded", "date")
    bo.field("company", "revenue", "decimal")
    bo.field("company", "active", "boolean")
    bo.field("company", "sector", "string")
    rows = [("Nine", 9, "2019-12-31", "9.5", True, "retail"), ("Ten", 10, "2020-01-01", "10.25", False, "Tech"),
            ("Hundred", 100, "1999-06-01", "100", True, "tech 50%"), ("Blank", None, None, None, None, None)]
    for name, employees, founded, revenue, active, sector in rows:
        bo.company(name, custom={"employees": employees, "founded": founded, "revenue": revenue, "active": active,
                                 "sector": sector})


def test_integer_filter_and_sort_compare_as_numbers(companies):
    assert _names(query.list_objects("company", filters=[Filter("employees", "gt", "9")],
                                     sort=[Sort("employees")])) == ["Ten", "Hundred"]
    page = query.list_objects("company", sort=[Sort("employees", desc=True)])
    assert _names(page) == ["Hundred", "Ten", "Nine", "Blank"]  # 100 > 10 > 9, no value last
    assert page.total == 4


def test_dates_and_decimals_compare_as_their_types(companies):
    assert _names(query.list_objects("company", filters=[Filter("founded", "lt", "2020-01-01")],
                                     sort=[Sort("founded")])) == ["Hundred", "Nine"]
    assert _names(query.list_objects("company", filters=[Filter("revenue", "gte", "10")],
                                     sort=[Sort("revenue")])) == ["Ten", "Hundred"]
    assert _names(query.list_objects("company", filters=[Filter("revenue", "in", ["9.50", "100.0"])],
                                     sort=[Sort("name")])) == ["Hundred", "Nine"]


def test_boolean_text_and_null_operators(companies):
    assert _names(query.list_objects("company", filters=[Filter("active", "eq", "yes")],
                                     sort=[Sort("name")])) == ["Hundred", "Nine"]
    assert _names(query.list_objects("company", filters=[Filter("sector", "contains", "tech")],
                                     sort=[Sort("name")])) == ["Hundred", "Ten"]
    # % is a literal character, not a wildcard
    assert _names(query.list_objects("company", filters=[Filter("sector", "contains", "50%")])) == ["Hundred"]
    assert _names(query.list_objects("company", filters=[Filter("employees", "is_null")])) == ["Blank"]
    assert query.list_objects("company", filters=[Filter("employees", "is_not_null")]).total == 3
    assert _names(query.list_objects("company", filters=[Filter("sector", "neq", "retail")],
                                     sort=[Sort("name", desc=True)])) == ["Ten", "Hundred"]


def test_search_core_filters_and_values_of_the_page(companies):
    page = query.list_objects("company", q="e", filters=[Filter("name", "neq", "Blank")], sort=[Sort("name")])
    assert _names(page) == ["Hundred", "Nine", "Ten"]
    ten = page.rows[2]
    assert page.custom[ten.id] == {"employees": 10, "founded": date(2020, 1, 1), "revenue": Decimal("10.25"),
                                   "active": False, "sector": "Tech"}


def test_offset_pages_and_total(companies):
    first = query.list_objects("company", sort=[Sort("employees")], limit=2)
    second = query.list_objects("company", sort=[Sort("employees")], limit=2, offset=2)
    assert (_names(first), _names(second)) == (["Nine", "Ten"], ["Hundred", "Blank"])
    assert first.total == second.total == 4 and first.limit == 2 and second.offset == 2


def test_unknown_field_operator_and_bad_value_name_the_field(companies):
    with pytest.raises(ValidationError) as caught:
        query.list_objects("company", filters=[Filter("nope", "eq", "1"), Filter("employees", "contains", "1"),
                                               Filter("founded", "lt", "soon")], sort=[Sort("missing")])
    assert {(e.field, e.rule) for e in caught.value.errors} == {
        ("nope", "unknown_field"), ("employees", "operator"), ("founded", "type"), ("missing", "unknown_field")}
    with pytest.raises(ValidationError) as caught:
        query.list_objects("company", limit=0)
    assert caught.value.errors[0].field == "limit"


def test_parse_filter_and_sort():
    assert query.parse_filter("founded", "lt:2020-01-01") == Filter("founded", "lt", "2020-01-01")
    assert query.parse_filter("founded", "lt.2020-01-01") == Filter("founded", "lt", "2020-01-01")
    assert query.parse_filter("tier", "in:a,b") == Filter("tier", "in", ("a", "b"))
    assert query.parse_filter("tier", 'not.in.(a,"b, c")') == Filter("tier", "in", ("a", "b, c"), negate=True)
    assert query.parse_filter("name", "Acme") == Filter("name", "eq", "Acme")
    assert query.parse_filter("email", "is_null") == Filter("email", "is", None)
    assert query.parse_filter("email", "not.is.null") == Filter("email", "is", None, negate=True)
    assert query.parse_sort("-employees, name") == [Sort("employees", True), Sort("name")]
    with pytest.raises(ValidationError) as caught:
        query.parse_filter("employees", "above:3")
    assert (caught.value.errors[0].field, caught.value.errors[0].rule) == ("employees", "operator")


def test_value_stored_under_another_type_reads_as_null_instead_of_failing(scoped, bo):
    from strata.business_objects.models import BusinessObjectExtension

    bo.field("product", "weight", "integer")
    widget = bo.product("Widget", custom={"weight": 3})
    bo.product("Gadget", custom={"weight": 5})
    row = db.session.query(BusinessObjectExtension).filter_by(entity_id=widget.id).one()
    row.field_type, row.field_value = "string", '"heavy"'
    db.session.flush()
    assert _names(query.list_objects("product", filters=[Filter("weight", "gt", "1")], sort=[Sort("weight")])) == [
        "Gadget"]


def test_partner_company_fields_apply_with_company_id(scoped, bo):
    acme = bo.company("Acme")
    other = bo.company("Other")
    bo.field("partner", "badge", "integer", company_id=acme.id)
    bo.partner(acme.id, "Ann", custom={"badge": 7})
    bo.partner(other.id, "Bob")
    page = query.list_objects("partner", company_id=acme.id, filters=[Filter("badge", "eq", "7")])
    assert _names(page) == ["Ann"] and page.custom[page.rows[0].id] == {"badge": 7}
    with pytest.raises(ValidationError):
        query.list_objects("partner", filters=[Filter("badge", "eq", "7")])


def test_statements_per_page_do_not_grow_with_rows(scoped, bo):
    for name in ("tier", "score", "joined"):
        bo.field("partner", name, {"tier": "string", "score": "integer", "joined": "date"}[name])
    company = bo.company()
    for i in range(60):
        bo.partner(company.id, f"P{i:02}", custom={"tier": "gold" if i % 2 else "silver", "score": i,
                                                   "joined": f"2020-01-{i % 28 + 1:02}"})
    db.session.flush()
    query.list_objects("partner", limit=1)  # warm the config cache
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    counts = {}
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for limit in (5, 50):
            statements.clear()
            page = query.list_objects("partner", filters=[Filter("tier", "eq", "gold"), Filter("score", "gte", "1")],
                                      sort=[Sort("joined", desc=True), Sort("score")], limit=limit)
            assert len(page.rows) == min(limit, 30) and page.total == 30
            assert all(set(page.custom[row.id]) == {"tier", "score", "joined"} for row in page.rows)
            counts[limit] = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert counts[5] == 3 and counts[50] == 2  # page, count, values; a page holding every match needs no count


@pytest.fixture
def members(scoped, bo):
    """Partners, some without a joined date or score, and one whose score is stored as another type."""
    from strata.business_objects.models import BusinessObjectExtension

    bo.field("partner", "joined", "date")
    bo.field("partner", "score", "integer")
    company = bo.company()
    rows = [("A", "2020-01-02", 5), ("B", None, 7), ("C", "2021-06-30", None), ("D", "2020-01-02", 9),
            ("E", None, 1), ("F", "1999-12-31", 3), ("G", "2021-06-30", 8)]
    made = {name: bo.partner(company.id, name, custom={"joined": joined, "score": score})
            for name, joined, score in rows}
    row = db.session.query(BusinessObjectExtension).filter_by(entity_id=made["G"].id, field_name="score").one()
    row.field_type, row.field_value = "string", '"high"'
    db.session.flush()
    return made


def _expected(made, key, desc):
    """The plain order: values first (by value, then id in the last key's direction), no value last."""
    present = sorted((n for n in made if key(n) is not None), key=lambda n: (key(n), made[n].id), reverse=desc)
    absent = sorted((n for n in made if key(n) is None), key=lambda n: made[n].id, reverse=desc)
    return present + absent


def test_custom_sort_puts_values_in_order_and_objects_without_one_last(members):
    joined = {"A": "2020-01-02", "C": "2021-06-30", "D": "2020-01-02", "F": "1999-12-31", "G": "2021-06-30"}
    score = {"A": 5, "B": 7, "D": 9, "E": 1, "F": 3}  # G's score is stored as a string: no value
    for field, values in (("joined", joined), ("score", score)):
        for desc in (False, True):
            want = _expected(members, values.get, desc)
            page = query.list_objects("partner", sort=[Sort(field, desc)])
            assert _names(page) == want and page.total == 7, (field, desc)
            # pages across the boundary between objects with a value and those without
            pages = [_names(query.list_objects("partner", sort=[Sort(field, desc)], limit=2, offset=o))
                     for o in range(0, 8, 2)]
            assert sum(pages, []) == want, (field, desc)


def test_custom_sort_with_filters_and_a_second_key(members):
    page = query.list_objects("partner", filters=[Filter("score", "gte", "3")],
                              sort=[Sort("joined", desc=True), Sort("name")])
    assert _names(page) == ["A", "D", "F", "B"] and page.total == 4  # A and D tie on joined: by name
    page = query.list_objects("partner", filters=[Filter("joined", "gte", "2020-01-01")], sort=[Sort("score")])
    assert _names(page) == ["A", "D", "C", "G"] and page.total == 4
    assert _names(query.list_objects("partner", filters=[Filter("joined", "is_null")],
                                     sort=[Sort("joined")])) == ["B", "E"]
    assert _names(query.list_objects("partner", filters=[Filter("joined", "in", ["2021-06-30", "1999-12-31"])],
                                     sort=[Sort("joined"), Sort("name", desc=True)])) == ["F", "G", "C"]
    assert _names(query.list_objects("partner", q="nobody", sort=[Sort("joined")])) == []


def test_typed_value_indexes_serve_custom_filters_and_sorts(members):
    from sqlalchemy import text

    statements, _, _ = query.build("partner", filters=[Filter("score", "gte", "3")], sort=[Sort("joined", True)])
    connection = db.session.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    connection.execute(text("SET LOCAL enable_sort = off"))
    plans = []
    for statement in (statements.page, statements.count):
        compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
        plans.append("\n".join(connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars()))
    connection.execute(text("RESET enable_seqscan"))
    connection.execute(text("RESET enable_sort"))
    assert "ix_extensions_date_value" in plans[0]
    assert "ix_extensions_numeric_value" in plans[1]
