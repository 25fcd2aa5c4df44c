"""Field values of extension tables: the manifest's types over the platform's typed values, and its rules.

Used for manifest defaults and for every row written through the REST API or the data browser.
Types are parsed by `strata.values` (one behaviour with custom fields and thing attributes);
the manifest's `validation` rules (lengths, pattern, bounds) are checked here, patterns by
`strata.patterns`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from strata import patterns
from strata import values as core
from strata.errors import FieldError
from strata.values import ValueProblem

__all__ = ["TYPES", "ValueProblem", "check_rules", "coerce", "validate"]

# Manifest field type → platform value type.
TYPES = {"String": "string", "Int": "integer", "Float": "float", "Decimal": "decimal", "Boolean": "boolean",
         "DateTime": "datetime", "Json": "json"}


def coerce(field_type: str, value: Any, enum_values: tuple[str, ...] | list[str] | None = None) -> Any:
    """Return `value` as the Python value of `field_type`; raise ValueProblem (enums: one of the values)."""
    if enum_values is not None:
        try:
            return core.parse("enum", value, options=tuple(enum_values))
        except ValueProblem as problem:  # the REST API names this rule after the manifest's enums
            raise ValueProblem("enum" if problem.rule == "choice" else problem.rule, problem.text) from None
    # A String column is text: the manifest's maxLength, not the short-string cap, bounds it.
    return core.parse(TYPES[field_type], value, max_length=core.TEXT_MAX, text_is_json=False)


def check_rules(value: Any, rules: dict[str, Any] | None) -> None:
    """Raise ValueProblem if a coerced `value` breaks the manifest's validation rules."""
    if not rules or value is None:
        return
    if isinstance(value, str):
        if rules.get("minLength") is not None and len(value) < rules["minLength"]:
            raise ValueProblem("minLength", f"must be at least {rules['minLength']} characters")
        if rules.get("maxLength") is not None and len(value) > rules["maxLength"]:
            raise ValueProblem("maxLength", f"must be at most {rules['maxLength']} characters")
        if rules.get("pattern") and not patterns.matches(rules["pattern"], value):
            raise ValueProblem("pattern", f"must match the pattern {rules['pattern']}")
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if rules.get("min") is not None and core.key(value) < core.key(rules["min"]):
            raise ValueProblem("min", f"must be at least {_number(rules['min'])}")
        if rules.get("max") is not None and core.key(value) > core.key(rules["max"]):
            raise ValueProblem("max", f"must be at most {_number(rules['max'])}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def validate(field: dict[str, Any], value: Any, enum_values: list[str] | None,
             path: str) -> tuple[Any, FieldError | None]:
    """Return (coerced value, None) or (None, the FieldError at `path`) for one field's value."""
    try:
        coerced = coerce(field["type"], value, enum_values)
        check_rules(coerced, field.get("validation"))
    except ValueProblem as problem:
        return None, FieldError(path, problem.rule, f"{path} {problem}")
    return coerced, None
