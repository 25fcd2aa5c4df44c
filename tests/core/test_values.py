"""Typed values: what each type accepts (the README's Values table), offsets, instants, decimals as numbers,
date-range rules in the tenant's timezone, and `unique` under concurrency."""

import importlib.util
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from strata import values
from strata.business_objects import definitions, service
from strata.business_objects.models import Company
from strata.db import db
from strata.errors import ValidationError
from strata.tenancy.models import Tenant
from strata.tenancy.service import tenant_context


def no(rule):
    """An expected refusal by `rule`."""
    return ("refused", rule)


# The README's "Values" table: input → typed value, or the rule that refuses it.
TABLE = [
    ("boolean", "y", True), ("boolean", "No", False), ("boolean", " 1 ", True), ("boolean", "maybe", no("type")),
    ("boolean", 2, no("type")),
    ("integer", " 42 ", 42), ("integer", "1e5", no("type")), ("integer", 3.0, 3), ("integer", "1.5", no("type")),
    ("integer", "9223372036854775807", 9223372036854775807), ("integer", "9999999999999999999", no("range")),
    ("integer", True, no("type")),
    ("decimal", " 42 ", Decimal(42)), ("decimal", "1e5", no("type")), ("decimal", "1.10", Decimal("1.1")),
    ("decimal", "12,5", no("type")), ("decimal", "0.00000000001", no("range")), ("decimal", "NaN", no("type")),
    ("decimal", 0.5, Decimal("0.5")),
    ("float", "1e5", 100000.0), ("float", "inf", no("type")),
    ("string", " 42 ", "42"), ("string", 42, "42"), ("string", ["a"], no("type")), ("string", "a\x00b", no("type")),
    ("text", " 42 ", " 42 "),
    ("date", "2025-02-30", no("type")), ("date", "2024-02-29", date(2024, 2, 29)), ("date", "30/01/2025", no("type")),
    ("datetime", "2025-01-31T12:00:00+01:00", datetime(2025, 1, 31, 11, tzinfo=UTC)),
    ("datetime", "2025-01-31 12:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ("datetime", "2025-01-31T12:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ("datetime", "2025-01-31T12:00+20:00", no("offset")), ("datetime", "2025-01-31T12:00-12:30", no("offset")),
    ("datetime", "2025-01-31T12:00+14:00", datetime(2025, 1, 30, 22, tzinfo=UTC)),
    ("datetime", "2025-02-30T10:00", no("type")),
    ("email", " Ada@Example.COM ", "Ada@example.com"), ("email", "ada@", no("type")),
    ("url", "https://example.com/a", "https://example.com/a"), ("url", "javascript:alert(1)", no("type")),
    ("json", '{"a": 1}', {"a": 1}), ("json", "{oops", no("type")),
    ("reference", "7", 7), ("reference", "0", no("reference")),
]


@pytest.mark.parametrize("value_type, raw, expected", TABLE)
def test_the_values_table(value_type, raw, expected):
    if isinstance(expected, tuple):
        with pytest.raises(values.ValueProblem) as caught:
            values.parse(value_type, raw)
        assert caught.value.rule == expected[1]
    else:
        parsed = values.parse(value_type, raw)
        assert parsed == expected and type(parsed) is type(expected)


def test_choices_and_lengths():
    assert values.parse("enum", " red ", options=("red", "green")) == "red"
    with pytest.raises(values.ValueProblem, match="one of red, green"):
        values.parse("select", "RED", options=("red", "green"))
    assert values.parse("multiselect", ["red", "red", "green"], options=("red", "green")) == ["red", "green"]
    with pytest.raises(values.ValueProblem, match="at most 255"):
        values.parse("string", "x" * 256)
    assert values.parse("string", "x" * 300, max_length=values.TEXT_MAX) == "x" * 300


def test_stored_form_and_comparison():
    assert values.to_json(Decimal("1.10")) == values.to_json(Decimal("1.1")) == "1.1"
    assert values.to_json(Decimal("1E+5")) == "100000"
    assert str(values.parse("decimal", "100")) == "100"  # never 1E+2, which SQL text and JSON would show
    assert values.to_json(values.parse("datetime", "2025-01-31T23:30-05:00")) == "2025-02-01T04:30:00+00:00"
    assert values.normal_text(Decimal("1.10")) == values.normal_text(Decimal("1.1"))
    assert values.key(1) == values.key(Decimal("1.0")) == values.key(1.0)
    east, west = values.parse("datetime", "2025-01-01T10:00+09:00"), values.parse("datetime", "2025-01-01T00:00-02:00")
    assert values.key(east) < values.key(west)
    assert values.from_json("datetime", values.to_json(east)) == east


def test_local_date_is_judged_in_a_zone():
    from zoneinfo import ZoneInfo

    moment = values.parse("datetime", "2025-01-31T23:30:00-05:00")  # 04:30 UTC on 1 February
    assert values.local_date(moment, ZoneInfo("UTC")) == date(2025, 2, 1)
    assert values.local_date(moment, ZoneInfo("America/New_York")) == date(2025, 1, 31)
    assert values.local_date(date(2025, 1, 31), ZoneInfo("Asia/Tokyo")) == date(2025, 1, 31)


def test_date_range_rule_uses_the_tenants_timezone(app, admin, tenant):
    with tenant_context(tenant.id):
        definitions.define_field("company", "met_at", "Met at", "datetime", actor_id=admin.id)
        definitions.define_validator("company", "january", "range", field_name="met_at",
                                     config={"kind": "date", "max": "2025-01-31"}, actor_id=admin.id)
        late_evening = "2025-01-31T23:30:00-05:00"  # still 31 January in New York, 1 February in UTC
        assert [e.rule for e in service.test_value("company", "met_at", late_evening)] == ["range"]
    db.session.get(Tenant, tenant.id).timezone = "America/New_York"
    db.session.commit()
    with tenant_context(tenant.id):
        assert service.test_value("company", "met_at", late_evening) == []


def test_unique_compares_normalised_values(scoped, admin):
    definitions.define_field("product", "weight", "Weight", "decimal", actor_id=admin.id)
    definitions.define_validator("product", "one_weight", "custom", field_name="weight",
                                 config={"rule": "unique"}, actor_id=admin.id)
    service.create("product", {"name": "A"}, {"weight": "1.10"}, actor_id=admin.id)
    with pytest.raises(ValidationError) as caught:
        service.create("product", {"name": "B"}, {"weight": "1.1"}, actor_id=admin.id)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("weight", "unique")]


def test_twenty_concurrent_creates_of_one_unique_value_make_one(app, tenant, admin):
    with tenant_context(tenant.id):
        definitions.define_field("company", "vat", "VAT number", "string", actor_id=admin.id)
        definitions.define_validator("company", "one_vat", "custom", field_name="vat", config={"rule": "unique"},
                                     actor_id=admin.id)
    barrier, outcomes = threading.Barrier(20), []

    def create(i):
        barrier.wait()
        with app.app_context():
            try:
                with tenant_context(tenant.id):
                    service.create("company", {"name": f"Co {i}"}, {"vat": "GB123"}, actor_id=admin.id)
                outcomes.append("created")
            except ValidationError as exc:
                outcomes.append(exc.errors[0].rule)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["unique"] * 19
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Company)) == 1


def test_migration_rewrites_stored_decimals_and_datetimes():
    path = Path(__file__).resolve().parents[2] / "migrations/tenant/versions/t0009_values.py"
    spec = importlib.util.spec_from_file_location("t0009_values", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration._normal("decimal", "1.10") == "1.1" and migration._normal("decimal", "100") is None
    assert migration._normal("decimal", "0.000") == "0"
    assert migration._normal("datetime", '"2025-01-31T12:00:00+20:00"') == '"2025-01-30T16:00:00+00:00"'
    assert migration._normal("datetime", '"2025-01-31T12:00:00+00:00"') is None
    assert migration._normal("datetime", '"not a date"') is None


def test_rules_compare_typed_values_by_value():
    from strata.business_objects import validators
    from strata.business_objects.fields import FieldSpec

    config = validators.parse_config("custom", {"rule": "allowed_values", "values": ["2025-01-01", 1.5]})
    allowed = validators.ValidatorSpec(None, "company", "v", "custom", "d", config)

    def errors(value):
        record = validators.Record("company", None, {"d": value}, {"d": FieldSpec("d", "D", "date")})
        return [e.rule for e in validators.check(allowed, record)]

    assert errors(date(2025, 1, 1)) == [] and errors(Decimal("1.50")) == []
    assert errors(date(2025, 1, 2)) == ["allowed_values"] and errors(Decimal("1.51")) == ["allowed_values"]
