"""Every manifest rule: each broken one is reported with its JSON path and rule, and nothing is registered."""

import pytest

from strata.errors import ValidationError
from strata.extensions import checks, registry
from strata.extensions import manifest as manifest_module
from tests.extensions.conftest import CRM, manifest


def _errors(data):
    with pytest.raises(ValidationError) as caught:
        registry.validate(data)
    return {(e.field, e.rule) for e in caught.value.errors}


def _offline(data):
    """The rules that need no database: shape (pydantic) and the manifest's own consistency."""
    try:
        parsed = manifest_module.parse(data)
    except ValidationError as exc:
        return {(e.field, e.rule) for e in exc.errors}
    return {(e.field, e.rule) for e in checks.check(parsed)}


def _table(**changes):
    table = {"name": "deal", "fields": [{"name": "title", "type": "String"}]}
    table.update(changes)
    return table


def test_the_example_manifest_is_valid(scoped):
    assert registry.validate(manifest()).pluginId == "acme-crm"


@pytest.mark.parametrize("changes, expected", [
    ({"pluginId": "Bad Id"}, ("pluginId", "value_error")),
    ({"version": "1.0"}, ("version", "value_error")),
    ({"metadata": {}}, ("metadata.namespace", "missing")),
    ({"surprise": 1}, ("surprise", "extra_forbidden")),
    ({"tables": [{"name": "deal", "fields": [{"name": "x", "type": "String", "required": "sometimes"}]}]},
     ("tables[0].fields[0].required", "bool_parsing")),
    ({"tables": [_table(fields=[{"name": "x", "type": "String", "validation": {"pattern": "("}}])]},
     ("tables[0].fields[0].validation.pattern", "value_error")),
    ({"relationships": [{"source": "deal", "sourceField": "x", "target": "companies", "type": "ManyToFew"}]},
     ("relationships[0].type", "literal_error")),
    ({"metadata": {"namespace": "crm", "author": "Ada\u0000"}}, ("metadata.author", "nul")),
    ({"enums": [{"name": "stage", "values": ["lead", "won\u0000"]}]}, ("enums[0].values[1]", "nul")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Json", "default": {"x": float("nan")}}])]},
     ("tables[0].fields[0].default.x", "finite")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Int", "validation": {"max": float("inf")}}])]},
     ("tables[0].fields[0].validation.max", "finite")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Float", "default": 10 ** 400}])]},
     ("tables[0].fields[0].default", "range")),
])
def test_shape_errors_carry_json_paths(changes, expected):
    assert expected in _offline(manifest(**changes))


def test_text_that_is_neither_json_nor_yaml():
    with pytest.raises(ValidationError) as caught:
        manifest_module.parse("pluginId: [unclosed")
    assert caught.value.errors[0].rule == "syntax" and "line" in caught.value.errors[0].message


def test_values_jsonb_cannot_store_are_refused_in_yaml_too():
    """NaN, infinities and NUL characters would only fail when the registry stores the manifest as jsonb."""
    text = "pluginId: x\nversion: 1.0.0\nmetadata: {namespace: x}\ntables: [{name: t, fields: [{name: a, " \
           "type: Float, default: .inf}]}]\n"
    with pytest.raises(ValidationError) as caught:
        manifest_module.parse(text)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("tables[0].fields[0].default", "finite")]


@pytest.mark.parametrize("source", ["", "[1, 2]", b"\xff\xfe"])
def test_empty_or_non_object_manifest(source):
    with pytest.raises(ValidationError):
        manifest_module.parse(source)


LONG = "n" * 40


@pytest.mark.parametrize("changes, expected", [
    ({"metadata": {"namespace": "Bad-NS"}}, ("metadata.namespace", "pattern")),
    ({"tables": [_table(name="Deal")]}, ("tables[0].name", "pattern")),
    ({"tables": [_table(name="select")]}, ("tables[0].name", "reserved")),
    ({"tables": [_table(name="pg_deal")]}, ("tables[0].name", "reserved")),
    ({"tables": [_table(fields=[{"name": "order", "type": "String"}])]}, ("tables[0].fields[0].name", "reserved")),
    ({"tables": [_table(fields=[{"name": "id", "type": "String"}])]}, ("tables[0].fields[0].name", "reserved")),
    ({"tables": [_table(fields=[{"name": "ctid", "type": "String"}])]}, ("tables[0].fields[0].name", "reserved")),
    ({"tables": [_table(fields=[{"name": "x" * 64, "type": "String"}])]}, ("tables[0].fields[0].name", "max_bytes")),
    ({"metadata": {"namespace": LONG}, "tables": [_table(name="t" * 20)], "enums": [], "relationships": []},
     ("tables[0].name", "max_bytes")),
    ({"metadata": {"namespace": LONG}, "enums": [{"name": "e" * 20, "values": ["a"]}], "tables": [],
      "relationships": []}, ("enums[0].name", "max_bytes")),
    ({"tables": [_table(), _table()], "relationships": []}, ("tables", "unique")),
    ({"tables": [_table(fields=[{"name": "a", "type": "String"}, {"name": "a", "type": "Int"}])]},
     ("tables[0].fields", "unique")),
    ({"tables": [_table(namespace="other")]}, ("tables[0].namespace", "namespace")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Money"}])]}, ("tables[0].fields[0].type", "type")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Int", "default": "ten"}])]},
     ("tables[0].fields[0].default", "type")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Int", "default": 5, "validation": {"min": 10}}])]},
     ("tables[0].fields[0].default", "min")),
    ({"tables": [_table(fields=[{"name": "a", "type": "stage", "default": "maybe"}])]},
     ("tables[0].fields[0].default", "enum")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Int", "validation": {"maxLength": 3}}])]},
     ("tables[0].fields[0].validation", "applicable")),
    ({"tables": [_table(fields=[{"name": "a", "type": "String", "validation": {"max": 3}}])]},
     ("tables[0].fields[0].validation", "applicable")),
    ({"tables": [_table(fields=[{"name": "a", "type": "String", "validation": {"minLength": 5, "maxLength": 2}}])]},
     ("tables[0].fields[0].validation.minLength", "order")),
    ({"tables": [_table(fields=[{"name": "a", "type": "Int", "validation": {"min": 5, "max": 2}}])]},
     ("tables[0].fields[0].validation.min", "order")),
    ({"tables": [_table(indexes=[{"fields": ["nope"]}])]}, ("tables[0].indexes[0].fields[0]", "unknown")),
    ({"tables": [_table(uniqueConstraints=[{"fields": ["title", "nope"]}])]},
     ("tables[0].uniqueConstraints[0].fields[1]", "unknown")),
    ({"enums": [{"name": "stage", "values": ["a", "a"]}]}, ("enums[0].values", "unique")),
    ({"enums": [{"name": "stage", "values": ["a", "b" * 64]}]}, ("enums[0].values[1]", "max_bytes")),
    ({"enums": [{"name": "String", "values": ["a"]}]}, ("enums[0].name", "reserved")),
    ({"enums": [{"name": "stage", "values": ["lead", "won", "lost"]}, {"name": "stage", "values": ["x"]}]},
     ("enums", "unique")),
    ({"enums": [{"name": "stage", "values": ["a"], "localization": {"de": {"b": "B"}}}], "tables": []},
     ("enums[0].localization.de.b", "unknown")),
    ({"tables": [_table(indexes=[{"fields": ["title", "title"]}])]}, ("tables[0].indexes[0].fields", "unique")),
    ({"tables": [_table(indexes=[{"name": "By-Title", "fields": ["title"]}])]},
     ("tables[0].indexes[0].name", "pattern")),
    ({"relationships": [{"source": "deal", "sourceField": "c", "target": "companies", "type": "OneToMany"},
                        {"source": "deal", "sourceField": "c", "target": "partners", "type": "OneToMany"}]},
     ("relationships[1].sourceField", "unique")),
    ({"relationships": [{"source": "deal", "sourceField": "t" * 48, "target": "deal", "type": "ManyToMany"}]},
     ("relationships[0].sourceField", "max_bytes")),
    ({"tables": [_table(), _table(name="deal_tags")],
      "relationships": [{"source": "deal", "sourceField": "tags", "target": "deal", "type": "ManyToMany"}]},
     ("relationships[0].sourceField", "conflict")),
])
def test_manifest_rules(changes, expected):
    data = manifest(**changes)
    if "relationships" not in changes and not any(t["name"] == "deal" for t in data["tables"]):
        data["relationships"] = []
    assert expected in _offline(data)


def test_database_rules_are_checked_on_registration(scoped):
    """A manifest broken on its own is refused by the registry too, and nothing is stored."""
    assert ("tables[0].name", "reserved") in _errors(manifest(tables=[_table(name="select")], relationships=[]))
    assert registry.list_schemas() == []


STAGE = CRM["enums"][0]


@pytest.mark.parametrize("changes, expected", [
    ({"enums": [STAGE, {"name": "deal", "values": ["a"]}]}, ("tables[0].name", "conflict")),
    ({"enums": [STAGE, {"name": "deal_tags", "values": ["a"]}],
      "relationships": [{"source": "deal", "sourceField": "tags", "target": "deal", "type": "ManyToMany"}]},
     ("relationships[0].sourceField", "conflict")),
    ({"tables": [{**CRM["tables"][0],
                  "indexes": [{"name": "i", "fields": ["stage"]}, {"name": "i", "fields": ["code"]}]}]},
     ("tables[0].indexes[1]", "conflict")),
    ({"tables": [{**CRM["tables"][0], "indexes": [{"fields": ["stage"]}, {"fields": ["stage"], "unique": True}]}]},
     ("tables[0].indexes[1]", "conflict")),
    ({"tables": [{**CRM["tables"][0], "indexes": [{"fields": ["company_id"]}]}]}, ("tables[0].indexes[0]", "conflict")),
])
def test_two_parts_that_would_create_one_object(changes, expected):
    """Tables, types and indexes share one namespace: a clash is refused before any SQL runs."""
    errors = _offline(manifest(**changes))
    assert expected in errors and {rule for _, rule in errors} == {"conflict"}


@pytest.mark.parametrize("relationship, expected", [
    ({"source": "nope", "sourceField": "c", "target": "companies"}, ("relationships[0].source", "unknown")),
    ({"source": "deal", "sourceField": "c", "target": "deal", "targetField": "title"},
     ("relationships[0].targetField", "unique")),
    ({"source": "deal", "sourceField": "c", "target": "companies", "onDelete": "SetNull", "required": True},
     ("relationships[0].onDelete", "conflict")),
    ({"source": "deal", "sourceField": "Bad", "target": "companies"}, ("relationships[0].sourceField", "pattern")),
    ({"source": "deal", "sourceField": "title", "target": "companies"}, ("relationships[0].sourceField", "conflict")),
])
def test_relationship_rules(relationship, expected):
    assert expected in _offline(manifest(relationships=[{"type": "OneToMany", **relationship}]))


@pytest.mark.parametrize("relationship, expected", [
    ({"source": "deal", "sourceField": "c", "target": "invoices"}, ("relationships[0].target", "missing")),
    ({"source": "deal", "sourceField": "c", "target": "companies", "targetField": "name"},
     ("relationships[0].targetField", "unique")),
    ({"source": "deal", "sourceField": "c", "target": "plugin_other_thing"}, ("relationships[0].target", "missing")),
])
def test_relationship_targets_in_the_database(scoped, relationship, expected):
    data = manifest(relationships=[{"type": "OneToMany", **relationship}])
    assert expected in _errors(data)


def test_too_many_columns():
    fields = [{"name": f"c{i}", "type": "Boolean"} for i in range(1598)]  # one byte each: only the count binds
    data = manifest(tables=[_table(fields=fields)], relationships=[])
    assert ("tables[0].fields", "max_columns") in _offline(data)
    assert not checks.check(manifest_module.parse(manifest(tables=[_table(fields=fields[:1597])], relationships=[])))
    related = manifest(tables=[_table(fields=fields[:1597])], relationships=[
        {"source": "deal", "sourceField": "company_id", "target": "companies", "type": "OneToMany"}])
    assert ("tables[0].fields", "max_columns") in _offline(related)  # a relationship's column counts too
    wide = manifest(tables=[_table(fields=[{"name": f"c{i}", "type": "Int"} for i in range(1100)])], relationships=[])
    assert ("tables[0].fields", "row_width") in _offline(wide)  # 1,100 bigints cannot fit one 8 kB row


def test_plugin_id_must_match_the_address(scoped):
    with pytest.raises(ValidationError) as caught:
        registry.validate(manifest(), "other-plugin")
    assert caught.value.errors[0].rule == "mismatch"
