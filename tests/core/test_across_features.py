"""One table of inputs × types through the business-object API, the things API and the extension REST:
the same accept/refuse outcome and the same stored value in all three; mixed-offset date-times filter and
sort by their instants on every list API."""

import pytest

from strata.business_objects import definitions
from strata.db import db
from strata.extensions import executor, registry
from strata.tenancy.service import tenant_context
from strata.things import schema
from tests.core.conftest import extension_manifest

NO = "refused"
# (type, raw input, stored JSON value or NO): types every feature has (select is the things/extensions enum).
TABLE = [
    ("string", " 42 ", "42"), ("string", "y", "y"), ("string", 42, "42"), ("string", ["a"], NO),
    ("integer", " 42 ", 42), ("integer", "1e5", NO), ("integer", 3.0, 3), ("integer", "1.5", NO),
    ("integer", "9223372036854775807", 9223372036854775807), ("integer", "9999999999999999999", NO),
    ("integer", "y", NO), ("integer", True, NO),
    ("decimal", " 42 ", "42"), ("decimal", "1.10", "1.1"), ("decimal", "1e5", NO), ("decimal", 0.5, "0.5"),
    ("decimal", "12,5", NO), ("decimal", "0.00000000001", NO),
    ("boolean", "y", True), ("boolean", "off", False), ("boolean", 1, True), ("boolean", "maybe", NO),
    ("datetime", "2025-01-31T12:00:00+01:00", "2025-01-31T11:00:00+00:00"),
    ("datetime", "2025-01-31T12:00", "2025-01-31T12:00:00+00:00"),
    ("datetime", "2025-01-31T12:00-12:00", "2025-02-01T00:00:00+00:00"),
    ("datetime", "2025-01-31T12:00+20:00", NO), ("datetime", "2025-01-31T12:00+14:30", NO),
    ("datetime", "2025-02-30T10:00", NO),
    ("select", " red ", "red"), ("select", "blue", NO), ("select", "RED", NO),
]
EXTENSION_TYPES = {"string": "String", "integer": "Int", "decimal": "Decimal", "boolean": "Boolean",
                   "datetime": "DateTime", "select": "colour"}
THING_TYPES = {"select": "enum"}


@pytest.fixture
def apis(client, login, tenant, admin):
    """Each feature with a field `v_<type>` of every type in the table; return the three write functions."""
    with tenant_context(tenant.id):
        from strata.things.access import Actor

        boss = Actor(admin.id, "admin")
        cls = schema.create_class(boss, {"name": "Item"})
        for value_type in EXTENSION_TYPES:
            options = ["red", "green"] if value_type == "select" else None
            definitions.define_field("company", f"v_{value_type}", value_type.capitalize(), value_type,
                                     options=options, actor_id=admin.id)
            attribute = schema.create_attribute(boss, {"name": f"v_{value_type}",
                                                       "data_type": THING_TYPES.get(value_type, value_type),
                                                       "enum_values": options})
            schema.assign(boss, cls.id, attribute.id)
        registry.register(extension_manifest([{"name": f"v_{t}", "type": x} for t, x in EXTENSION_TYPES.items()]))
        db.session.commit()
        executor.execute("core-values")
        class_id = cls.id
    login(admin, tenant=tenant)
    base = f"/api/t/{tenant.slug}"

    def business_object(name, raw):
        response = client.post(f"{base}/companies", json={"name": "Acme", "custom_fields": {name: raw}})
        return response, lambda body: body["custom_fields"].get(name)

    def thing(name, raw):
        response = client.post(f"{base}/things/classes/{class_id}/things", json={"name": "x", "values": {name: raw}})
        return response, lambda body: body["values"].get(name)

    def extension(name, raw):
        response = client.post(f"{base}/x/core-values/item", json={name: raw})
        return response, lambda body: body.get(name)

    return {"business objects": business_object, "things": thing, "extensions": extension}


def test_one_table_through_three_apis(apis):
    mismatches = []
    for value_type, raw, expected in TABLE:
        for feature, write in apis.items():
            response, stored = write(f"v_{value_type}", raw)
            body = response.get_json()
            if expected is NO:
                outcome = "refused" if response.status_code == 422 else (response.status_code, body)
                named = response.status_code == 422 and any(e["field"] == f"v_{value_type}" for e in body["errors"])
                if outcome != "refused" or not named:
                    mismatches.append((feature, value_type, raw, "expected a 422 naming the field", outcome))
            elif response.status_code != 201 or stored(body) != expected:
                mismatches.append((feature, value_type, raw, expected, response.status_code,
                                   stored(body) if response.status_code == 201 else body))
    assert mismatches == []


MIXED = ["2025-01-01T10:00:00+09:00", "2025-01-01T00:00:00-02:00", "2025-01-01T01:30:00Z"]  # 01:00, 02:00, 01:30 UTC


def test_mixed_offsets_filter_and_sort_by_instant(client, apis, tenant):
    base = f"/api/t/{tenant.slug}"
    for raw in MIXED:
        for write in apis.values():
            assert write("v_datetime", raw)[0].status_code == 201
    after = "2025-01-01T10:15:00+09:00"  # 01:15 UTC: the 01:30 and 02:00 values are later
    by_instant = ["2025-01-01T01:00:00+00:00", "2025-01-01T01:30:00+00:00", "2025-01-01T02:00:00+00:00"]

    companies = client.get(f"{base}/companies", query_string={"v_datetime": f"gt:{after}", "sort": "v_datetime"})
    assert companies.status_code == 200, companies.get_json()
    assert [c["custom_fields"]["v_datetime"] for c in companies.get_json()["items"]] == by_instant[1:]
    ordered = client.get(f"{base}/companies", query_string={"sort": "-v_datetime"}).get_json()["items"]
    assert [c["custom_fields"]["v_datetime"] for c in ordered] == by_instant[::-1]

    class_id = client.get(f"{base}/things/classes").get_json()["items"][0]["id"]
    things = client.get(f"{base}/things/classes/{class_id}/things", query_string={"v_datetime": f"gt:{after}"})
    assert things.status_code == 200, things.get_json()
    assert sorted(t["values"]["v_datetime"] for t in things.get_json()["items"]) == by_instant[1:]

    rows = client.get(f"{base}/x/core-values/item", query_string={"v_datetime": f"gt.{after}",
                                                                  "order": "v_datetime.asc"})
    assert rows.status_code == 200, rows.get_json()
    assert [r["v_datetime"] for r in rows.get_json()["items"]] == by_instant[1:]
