"""Attribute values: each data type at its boundaries, required attributes, assignment rules and the
class's validation rules; every refusal names the attribute and the rule, and writes nothing."""

import pytest

from strata.errors import ValidationError
from strata.things import service


def _refusal(call, *args, **kwargs):
    with pytest.raises(ValidationError) as exc:
        call(*args, **kwargs)
    return [(e.field, e.rule, e.message) for e in exc.value.errors]


@pytest.fixture
def box(scoped, model):
    return model.cls("Box")


@pytest.mark.parametrize("data_type, constraints, good, stored, bad, rule, message", [
    ("string", {"min_length": 2, "max_length": 5}, " abcde ", "abcde", "abcdef", "max_length",
     "Value must be at most 5 characters (got 6)."),
    ("string", {"min_length": 2}, "ab", "ab", "a", "min_length", "Value must be at least 2 characters."),
    ("string", {"pattern": "[A-Z]{3}-\\d+"}, "ABC-1", "ABC-1", "abc-1", "pattern",
     "Value must match the pattern [A-Z]{3}-\\d+."),
    ("string", {}, "x" * 255, "x" * 255, "x" * 256, "max_length", "Value must be at most 255 characters (got 256)."),
    ("text", {"max_length": 10}, "line\nline", "line\nline", "x" * 11, "max_length",
     "Value must be at most 10 characters (got 11)."),
    ("integer", {"min": 0, "max": 10}, "10", 10, 11, "max", "Value must be at most 10 (got 11)."),
    ("integer", {"min": 0, "max": 10}, 0, 0, -1, "min", "Value must be at least 0 (got -1)."),
    ("integer", {}, "-7", -7, "1.5", "type", "Value must be a whole number (got '1.5')."),
    ("decimal", {"min": "0.5", "max": "9.99"}, "9.990", "9.99", "10", "max", "Value must be at most 9.99 (got 10)."),
    ("decimal", {"min": "0.5"}, 0.5, "0.5", "0.49", "min", "Value must be at least 0.5 (got 0.49)."),
    ("decimal", {}, "12.50", "12.5", "12,5", "type", "Value must be a number (got '12,5')."),
    ("boolean", {}, "yes", True, "maybe", "type", "Value must be yes or no (true/false) (got 'maybe')."),
    ("boolean", {}, False, False, 2, "type", "Value must be yes or no (true/false) (got '2')."),
    ("date", {"min": "2020-01-01", "max": "2020-12-31"}, "2020-12-31", "2020-12-31", "2021-01-01", "max",
     "Value must be at most 2020-12-31 (got 2021-01-01)."),
    ("date", {}, "2024-02-29", "2024-02-29", "2023-02-29", "type",
     "Value must be a real date in YYYY-MM-DD form (got '2023-02-29')."),
    ("datetime", {"min": "2020-01-01T00:00:00+00:00"}, "2020-01-01T01:00:00+01:00", "2020-01-01T00:00:00+00:00",
     "2019-12-31T23:59:59Z", "min",
     "Value must be at least 2020-01-01T00:00:00+00:00 (got 2019-12-31T23:59:59+00:00)."),
])
def test_type_boundaries(box, model, data_type, constraints, good, stored, bad, rule, message):
    model.assign(box, model.attr("value", data_type, constraints=constraints))
    assert model.thing(box, "ok", value=good).attribute_values == {"value": stored}
    assert _refusal(model.thing, box, "bad", value=bad) == [("value", rule, message)]


def test_enum_values(box, model):
    model.assign(box, model.attr("colour", "enum", enum_values=["red", "blue"]))
    assert model.thing(box, "a", colour="blue").attribute_values == {"colour": "blue"}
    assert _refusal(model.thing, box, "b", colour="green") == [
        ("colour", "choice", "Colour must be one of red, blue (got 'green').")]


def test_reference_values(box, model, actors):
    person = model.cls("Person")
    model.assign(box, model.attr("owner", "reference", reference_class_id=person.id))
    ada = model.thing(person, "Ada")
    other_box = model.thing(box, "other")
    assert model.thing(box, "a", owner=str(ada.id)).attribute_values == {"owner": ada.id}
    message = "Owner must be the id of an existing thing of the referenced class (got {})."
    assert _refusal(model.thing, box, "b", owner=other_box.id) == [("owner", "reference", message.format(other_box.id))]
    service.delete_thing(actors["admin"], ada.id)
    assert _refusal(model.thing, box, "c", owner=ada.id) == [("owner", "reference", message.format(ada.id))]


def test_required_attribute_and_unknown_ones(box, model, actors):
    model.assign(box, model.attr("serial", "string"), required=True)
    assert _refusal(model.thing, box, "a") == [("serial", "required", "Serial is required.")]
    assert _refusal(model.thing, box, "a", serial="  ") == [("serial", "required", "Serial is required.")]
    assert _refusal(model.thing, box, "a", serial="S1", colour="red") == [
        ("colour", "unknown_attribute", "'colour' is not an attribute of Box.")]
    thing = model.thing(box, "a", serial="S1")
    assert _refusal(service.update_thing, actors["editor"], thing.id, None, {"serial": None}) == [
        ("serial", "required", "Serial is required.")]
    assert service.get_thing(actors["editor"], thing.id).attribute_values == {"serial": "S1"}


def test_assignment_rules_tighten_the_attribute(box, model):
    code = model.attr("code", "string", constraints={"max_length": 10})
    model.assign(box, code, rules={"max_length": 3})
    other = model.cls("Crate")
    model.assign(other, code)
    assert _refusal(model.thing, box, "a", code="ABCD") == [
        ("code", "max_length", "Code must be at most 3 characters (got 4).")]
    assert model.thing(other, "a", code="ABCD").attribute_values == {"code": "ABCD"}


def test_class_validation_rules(scoped, model, actors):
    cls = model.cls("Booking", validation_rules={"required": ["start"], "unique": ["ref"],
                                                 "ordered": [["start", "end"]], "name_pattern": "B-\\d+"})
    for name, data_type in (("start", "date"), ("end", "date"), ("ref", "string")):
        model.assign(cls, model.attr(name, data_type))
    assert _refusal(model.thing, cls, "B-1") == [("start", "required", "Start is required.")]
    assert _refusal(model.thing, cls, "booking", start="2024-01-01") == [
        ("name", "name_pattern", "Name must match the pattern B-\\d+.")]
    assert _refusal(model.thing, cls, "B-1", start="2024-02-01", end="2024-01-01") == [
        ("end", "ordered", "End must not be before Start.")]
    model.thing(cls, "B-1", start="2024-01-01", end="2024-01-02", ref="R1")
    assert _refusal(model.thing, cls, "B-2", start="2024-01-01", ref="R1") == [
        ("ref", "unique", "Another Booking already has Ref 'R1'.")]
    with pytest.raises(ValidationError) as exc:
        model.cls("Bad", validation_rules={"requird": ["x"]})
    assert exc.value.errors[0].rule == "unknown_rule"


def test_update_merges_values_and_clears_with_null(box, model, actors):
    model.assign(box, model.attr("width", "integer"))
    model.assign(box, model.attr("height", "integer"))
    thing = model.thing(box, "a", width=1, height=2)
    service.update_thing(actors["editor"], thing.id, None, {"width": 5})
    assert thing.attribute_values == {"width": 5, "height": 2}
    service.update_thing(actors["editor"], thing.id, "renamed", {"height": None})
    assert (thing.name, thing.attribute_values) == ("renamed", {"width": 5})
    assert _refusal(service.update_thing, actors["editor"], thing.id, None, ["width"]) == [
        ("attribute_values", "json_object", 'Attribute values must be a JSON object of name: value, like '
                                            '{"colour": "red"}.')]


def test_every_problem_is_reported_at_once(box, model):
    model.assign(box, model.attr("serial", "string"), required=True)
    model.assign(box, model.attr("weight", "decimal", constraints={"min": 0}))
    fields = {f for f, _, _ in _refusal(model.thing, box, " ", weight="-1")}
    assert fields == {"name", "serial", "weight"}
