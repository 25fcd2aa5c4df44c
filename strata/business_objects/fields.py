"""Custom field specs of business objects, over the platform's typed values (`strata.values`).

`coerce` raises `FieldValueError` (carrying a `FieldError`) with a message that names the
field and shows what was given, e.g. "Employees must be a whole number (got 'abc').".
Empty input ("", whitespace, None, []) is None: whether a value is needed is the
`required` validator's business, not the type's. Values are stored in
`business_object_extensions.field_value` as JSON text in the platform's one stored form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from strata import values
from strata.values import FieldValueError, is_empty

FIELD_TYPES = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "email", "url",
               "select", "multiselect", "json")
NUMERIC_TYPES = ("integer", "decimal")
TEMPORAL_TYPES = values.TEMPORAL_TYPES
TEXT_TYPES = ("string", "text", "email", "url", "select")
STRING_MAX, TEXT_MAX, JSON_MAX = values.STRING_MAX, values.TEXT_MAX, values.JSON_MAX
__all__ = ["FIELD_TYPES", "FieldSpec", "FieldValueError", "coerce", "deserialise", "is_empty", "serialise",
           "to_jsonable"]


@dataclass(frozen=True)
class FieldSpec:
    """What the domain knows about one field: core column or custom field definition."""

    name: str
    label: str
    field_type: str
    options: tuple[str, ...] = ()
    max_length: int | None = None
    default: Any = None
    help_text: str = ""
    position: int = 0
    company_id: int | None = None
    definition_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_custom(self) -> bool:
        return self.definition_id is not None


def coerce(spec: FieldSpec, raw: Any) -> Any:
    """Return `raw` as the typed value of `spec` (None when empty); raise FieldValueError."""
    if is_empty(raw):
        return None
    try:
        return values.parse(spec.field_type, raw, options=spec.options, max_length=spec.max_length)
    except values.ValueProblem as problem:
        raise values.field_error(spec.name, spec.label, problem, raw) from None


def serialise(field_type: str, value: Any) -> str | None:
    """Return the JSON text stored in business_object_extensions.field_value (None for no value)."""
    if value is None:
        return None
    stored = values.to_json(value)
    if field_type == "decimal":
        return stored  # a JSON number that keeps its exact digits
    return json.dumps(stored, sort_keys=True, ensure_ascii=False)


def deserialise(field_type: str, text: str | None) -> Any:
    """Return the typed value held in a field_value JSON text."""
    if text is None:
        return None
    return values.from_json(field_type, text if field_type == "decimal" else json.loads(text))


def to_jsonable(value: Any) -> Any:
    """Return `value` in a form json.dumps accepts (dates as ISO text, decimals as strings)."""
    return values.to_json(value)
