"""Every valid manifest applies exactly as written: the catalogue read back equals the manifest.

A property test generates manifests (enums with awkward labels, fields of every scalar type with
defaults that `jsonb` rewrites or that hold `%`, quotes and non-ASCII text, required flags and unique
constraints), applies each one and reads PostgreSQL's catalogue back: every default, enum label,
NOT NULL and unique constraint must equal the manifest's. Examples are derandomised so a CI run is
repeatable; the explicit examples are the cases that once failed.
"""

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from strata.db import db
from strata.errors import ValidationError
from strata.extensions import executor, registry

AWKWARD = ["%s", "100%", "%%", "%(x)s", "a'b", 'say "hi"', "back\\slash", "{}", "$1", "naïve", "日本", "e\u0301"]
label = st.one_of(st.sampled_from(AWKWARD), st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)).filter(
    lambda v: len(v.encode()) <= 63 and v.strip() == v and v != "")

DEFAULTS = {
    "String": st.one_of(st.sampled_from(AWKWARD), st.text(st.characters(blacklist_categories=("Cs",),
                                                                        blacklist_characters="\x00"), max_size=30)),
    "Int": st.integers(-(2 ** 63) + 1, 2 ** 63 - 1),
    "Float": st.one_of(st.sampled_from([1e16, -0.0, 1.5e300, 5e-324, 0.1, 123456789.125]),
                       st.floats(allow_nan=False, allow_infinity=False, width=64)),
    "Decimal": st.one_of(st.sampled_from(["12.50", "0.000001", "-99999999999999999999.5"]),
                         st.decimals(allow_nan=False, allow_infinity=False, places=4,
                                     min_value=-10 ** 12, max_value=10 ** 12).map(str)),
    "Boolean": st.booleans(),
    "DateTime": st.sampled_from(["2025-03-09T02:30:00+05:45", "1999-12-31T23:59:59Z", "2024-02-29T12:00:00-03:30"]),
    "Json": st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6), st.sampled_from(AWKWARD)),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.sampled_from(["a", "%s", "k'"]), inner,
                                                                 max_size=3)), max_leaves=6),
}


@st.composite
def manifests(draw):
    enums = []
    for i in range(draw(st.integers(0, 2))):
        enums.append({"name": f"e{i}", "values": draw(st.lists(label, min_size=1, max_size=5, unique=True))})
    fields = []
    for j in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from([*DEFAULTS, *(e["name"] for e in enums)]))
        field = {"name": f"f{j}", "type": kind, "required": draw(st.booleans())}
        if draw(st.booleans()):
            enum = next((e for e in enums if e["name"] == kind), None)
            field["default"] = draw(st.sampled_from(enum["values"]) if enum else DEFAULTS[kind])
        fields.append(field)
    table = {"name": "item", "fields": fields}
    if draw(st.booleans()):
        table["uniqueConstraints"] = [{"fields": [fields[0]["name"]]}]
    return {"pluginId": "prop", "version": "1.0.0", "metadata": {"namespace": "prop"}, "enums": enums,
            "tables": [table]}


def _default(field: str):
    """Return the column default evaluated by PostgreSQL as text, or None when there is none."""
    expression = db.session.scalar(text(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid "
        "AND a.attnum = d.adnum WHERE d.adrelid = 'plugin_prop_item'::regclass AND a.attname = :f"), {"f": field})
    if expression is None:
        return None
    with db.session.connection().connection.driver_connection.cursor() as cursor:  # no parameters: `%` stays
        cursor.execute(f"SELECT ({expression})::text")  # noqa: S608 (the catalogue's own expression)
        return cursor.fetchone()[0]


def _same(kind: str, wanted, stored: str, enums: dict) -> bool:
    if kind in enums or kind == "String":
        return stored == wanted
    if kind == "Int":
        return int(stored) == wanted
    if kind == "Float":
        return math.isclose(float(stored), float(wanted), rel_tol=1e-15, abs_tol=0)
    if kind == "Decimal":
        return Decimal(stored) == Decimal(str(wanted))
    if kind == "Boolean":
        return (stored == "true") == wanted
    if kind == "DateTime":
        parsed = datetime.fromisoformat(stored.replace(" ", "T"))
        return parsed == datetime.fromisoformat(wanted.replace("Z", "+00:00")).astimezone(UTC)
    return json.loads(stored) == wanted


def _check_catalogue(data):
    enums = {e["name"]: e["values"] for e in data["enums"]}
    for name, values in enums.items():
        labels = db.session.scalars(text("SELECT enumlabel FROM pg_enum WHERE enumtypid = to_regtype(:t) "
                                         "ORDER BY enumsortorder"), {"t": f"plugin_prop_{name}"}).all()
        assert labels == values
    columns = dict(db.session.execute(text(
        "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'plugin_prop_item'::regclass "
        "AND attnum > 0 AND NOT attisdropped")).all())
    for field in data["tables"][0]["fields"]:
        assert columns[field["name"]] is field["required"], field
        stored = _default(field["name"])
        if field.get("default") is None:  # a JSON null default is no default
            assert stored is None, field
        else:
            assert stored is not None and _same(field["type"], field["default"], stored, enums), (field, stored)
    uniques = db.session.scalars(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                      "WHERE conrelid = 'plugin_prop_item'::regclass AND contype = 'u'")).all()
    assert uniques == [f"UNIQUE ({c['fields'][0]})" for c in data["tables"][0].get("uniqueConstraints", [])]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=manifests())
@example(data={"pluginId": "prop", "version": "1.0.0", "metadata": {"namespace": "prop"},
               "enums": [{"name": "e0", "values": ["%s", "100%", "%%", "a'b"]}],
               "tables": [{"name": "item", "fields": [
                   {"name": "f0", "type": "Float", "required": True, "default": 1e16},
                   {"name": "f1", "type": "Float", "required": False, "default": -0.0},
                   {"name": "f2", "type": "String", "required": False, "default": "%s"},
                   {"name": "f3", "type": "String", "required": False, "default": "100%"},
                   {"name": "f4", "type": "e0", "required": True, "default": "%%"},
                   {"name": "f5", "type": "Json", "required": False, "default": {"%s": [1e16, "%%"]}}]}]})
def test_every_valid_manifest_applies_exactly(scoped, install, data):
    try:
        registry.validate(data)
    except ValidationError:
        db.session.rollback()
        return  # invalid manifests are another test's business: here, every valid one must apply
    migration = install(data)
    try:
        assert migration.status == "executed", migration.error_message
        _check_catalogue(data)
    finally:
        executor.rollback("prop", migration.migration_id, allow_destructive=True)
        registry.unregister("prop")
        db.session.commit()


@pytest.mark.parametrize("default", [1e16, -0.0, 1.5e300, 12345678901234567890.0])
def test_numbers_jsonb_rewrites_keep_their_checksum(scoped, install, default):
    data = {"pluginId": "num", "version": "1.0.0", "metadata": {"namespace": "num"},
            "tables": [{"name": "t", "fields": [{"name": "f", "type": "Float", "default": default}]}]}
    migration = install(data)
    assert migration.status == "executed" and executor.verify(migration) == []
