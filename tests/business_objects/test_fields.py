"""Field types turn raw input into typed values, refuse wrong types clearly, and round-trip as JSON text."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from strata.business_objects.fields import FieldSpec, FieldValueError, coerce, deserialise, serialise


def spec(field_type, label="Value", **kw):
    return FieldSpec("value", label, field_type, **kw)


@pytest.mark.parametrize("field_type, raw, expected", [
    ("string", "  hello ", "hello"),
    ("text", "line 1\nline 2", "line 1\nline 2"),
    ("integer", "42", 42),
    ("integer", -7, -7),
    ("integer", 3.0, 3),
    ("decimal", "12.50", Decimal("12.5")),
    ("decimal", 2, Decimal("2")),
    ("boolean", "yes", True),
    ("boolean", "off", False),
    ("boolean", False, False),
    ("date", "2024-02-29", date(2024, 2, 29)),
    ("datetime", "2025-03-01T10:30:00+01:00", datetime.fromisoformat("2025-03-01T10:30:00+01:00")),
    ("datetime", "2025-03-01T10:30", datetime(2025, 3, 1, 10, 30, tzinfo=UTC)),
    ("email", "Ada@Example.COM", "Ada@example.com"),
    ("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
    ("json", {"a": 1}, {"a": 1}),
])
def test_coerce_accepts_and_types(field_type, raw, expected):
    assert coerce(spec(field_type), raw) == expected


def test_select_and_multiselect_accept_only_options():
    colours = spec("select", options=("red", "green"))
    assert coerce(colours, "red") == "red"
    many = spec("multiselect", options=("red", "green"))
    assert coerce(many, ["green", "red", "green"]) == ["green", "red"]
    with pytest.raises(FieldValueError, match="must be one of red, green"):
        coerce(colours, "blue")
    with pytest.raises(FieldValueError):
        coerce(many, ["red", "blue"])


@pytest.mark.parametrize("field_type, raw, message", [
    ("integer", "abc", "Employees must be a whole number (got 'abc')."),
    ("integer", "1.5", "Employees must be a whole number (got '1.5')."),
    ("integer", True, "Employees must be a whole number (got 'true')."),
    ("decimal", "12,5", "Employees must be a number (got '12,5')."),
    ("boolean", "maybe", "Employees must be yes or no (true/false) (got 'maybe')."),
    ("date", "2025-02-30", "Employees must be a real date in YYYY-MM-DD form (got '2025-02-30')."),
    ("date", "30/01/2025", "Employees must be a real date in YYYY-MM-DD form (got '30/01/2025')."),
    ("datetime", "2025-02-30T10:00", "Employees must be a real date and time"),
    ("email", "not-an-email", "Employees must be an email address"),
    ("url", "javascript:alert(1)", "Employees must be a web address"),
    ("json", "{oops", "Employees must be valid JSON (got '{oops')."),
    ("string", ["a"], "Employees must be text"),
])
def test_wrong_types_are_refused_with_field_and_value(field_type, raw, message):
    with pytest.raises(FieldValueError) as caught:
        coerce(spec(field_type, "Employees"), raw)
    assert caught.value.error.field == "value"
    assert caught.value.error.message.startswith(message)


def test_empty_input_is_none_and_length_is_capped():
    assert coerce(spec("integer"), "  ") is None
    assert coerce(spec("multiselect", options=("a",)), []) is None
    with pytest.raises(FieldValueError, match="at most 255 characters"):
        coerce(spec("string"), "x" * 256)
    assert coerce(spec("string"), "x" * 255) == "x" * 255


@pytest.mark.parametrize("field_type, value, text", [
    ("decimal", Decimal("12.5"), "12.5"),
    ("integer", 5, "5"),
    ("date", date(2025, 1, 31), '"2025-01-31"'),
    ("multiselect", ["a", "b"], '["a", "b"]'),
    ("boolean", True, "true"),
    ("json", {"b": 1, "a": [1.5]}, '{"a": [1.5], "b": 1}'),
])
def test_serialise_round_trips(field_type, value, text):
    """Decimals are stored without trailing zeros (12.50 as 12.5), so equal numbers store alike."""
    assert serialise(field_type, value) == text
    assert deserialise(field_type, text) == value
