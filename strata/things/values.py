"""Attribute values: type, attribute constraints, assignment rules and the class's validation rules.

Types are the platform's (`strata.values`); patterns run on `strata.patterns`. Values are stored
in `things.attribute_values` by attribute name, as JSON: integers and booleans as numbers and
booleans, decimals as their exact digits in a string ("12.5"), dates as "YYYY-MM-DD", date-times
as ISO 8601 in UTC, enums as the chosen value, references as the id of a live thing of the
referenced class. One stored form per value, so an equality filter is a JSONB containment test.

Constraints (on the attribute, tightened per class by the assignment's rules):
string/text: min_length, max_length, pattern; integer/decimal: min, max; date/datetime: min, max.
Class validation rules: required [names], unique [names], ordered [[a, b], …] (a ≤ b), name_pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strata import patterns, values
from strata.errors import FieldError, ValidationError
from strata.things.models import DATA_TYPES, Attribute, AttributeAssignment
from strata.values import FieldValueError, is_empty

CONSTRAINT_KEYS = {
    "string": ("min_length", "max_length", "pattern"), "text": ("min_length", "max_length", "pattern"),
    "integer": ("min", "max"), "decimal": ("min", "max"), "date": ("min", "max"), "datetime": ("min", "max"),
    "boolean": (), "enum": (), "reference": (),
}
RULE_KEYS = ("required", "unique", "ordered", "name_pattern")


@dataclass(frozen=True)
class Slot:
    """An attribute as one class has it: required or not, with the merged constraints."""

    attribute: Attribute
    required: bool
    rules: dict[str, Any]
    assignment_id: int | None = None

    @property
    def name(self) -> str:
        return self.attribute.name

    @property
    def label(self) -> str:
        return self.attribute.label

    @property
    def data_type(self) -> str:
        return self.attribute.data_type

    def parse(self, raw: Any) -> Any:
        """Return `raw` as the attribute's typed value; raise FieldValueError naming the attribute."""
        try:
            return values.parse(self.data_type, raw, options=tuple(self.attribute.enum_values or ()))
        except values.ValueProblem as problem:
            raise values.field_error(self.name, self.label, problem, raw) from None


def slot_of(attribute: Attribute, assignment: AttributeAssignment) -> Slot:
    """Return the slot of `attribute` under `assignment` (assignment rules override the attribute's)."""
    return Slot(attribute, assignment.is_required, {**(attribute.constraints or {}),
                                                    **(assignment.assignment_rules or {})}, assignment.id)


def _typed(data_type: str, raw: Any) -> Any:
    """Return a constraint bound as it compares (numbers as Decimal, date-times as instants)."""
    try:
        return values.key(values.parse(data_type, raw))
    except values.ValueProblem as problem:
        raise values.field_error("bound", "Bound", problem, raw) from None


def clean_constraints(data_type: str, raw: Any, field: str = "constraints") -> dict[str, Any]:
    """Return `raw` as constraints valid for `data_type`; raise ValidationError naming the bad key."""
    if data_type not in DATA_TYPES:
        raise ValidationError.single("data_type", "choice", f"Data type must be one of {', '.join(DATA_TYPES)}.")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise ValidationError.single(field, "json_object", f"{field.replace('_', ' ').capitalize()} must be a JSON "
                                                           'object like {"max_length": 40}.')
    allowed, errors, out = CONSTRAINT_KEYS[data_type], [], {}
    for key, value in raw.items():
        if key not in allowed:
            hint = f" (use {', '.join(allowed)})" if allowed else ""
            errors.append(FieldError(field, "unknown_rule", f"{key!r} is not a rule for {data_type} attributes{hint}."))
        elif value is None or value == "":
            continue
        elif key in ("min_length", "max_length"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.append(FieldError(field, key, f"{key} must be a whole number of 0 or more."))
            else:
                out[key] = value
        elif key == "pattern":
            try:
                patterns.check(value, field, "pattern")
                out[key] = value
            except patterns.PatternError as exc:
                errors.append(exc.error)
        else:
            try:
                _typed(data_type, value)
                out[key] = value
            except FieldValueError:
                errors.append(FieldError(field, key, f"{key} must be a {data_type} value (got {value!r})."))
    if not errors and "min" in out and "max" in out and _typed(data_type, out["min"]) > _typed(data_type, out["max"]):
        errors.append(FieldError(field, "range", "min must not be greater than max."))
    if out.get("min_length", 0) > out.get("max_length", out.get("min_length", 0)):
        errors.append(FieldError(field, "range", "min_length must not be greater than max_length."))
    if errors:
        raise ValidationError(errors)
    return out


def clean_rules(raw: Any) -> dict[str, Any]:
    """Return `raw` as class validation rules; raise ValidationError naming the broken rule.

    Rules may name attributes the class is not assigned yet; they apply once it is."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise ValidationError.single("validation_rules", "json_object", 'Validation rules must be a JSON object like '
                                                                        '{"required": ["code"]}.')
    errors = [FieldError("validation_rules", "unknown_rule",
                         f"{key!r} is not a validation rule; use {', '.join(RULE_KEYS)}.")
              for key in raw if key not in RULE_KEYS]
    for key in ("required", "unique"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(FieldError("validation_rules", key, f"{key} must be a list of attribute names."))
    ordered = raw.get("ordered", [])
    if not isinstance(ordered, list) or not all(isinstance(p, list) and len(p) == 2
                                                and all(isinstance(n, str) for n in p) for p in ordered):
        errors.append(FieldError("validation_rules", "ordered",
                                 'ordered must be a list of pairs like [["start", "end"]].'))
    if "name_pattern" in raw:
        try:
            patterns.check(raw["name_pattern"], "validation_rules", "name_pattern")
        except patterns.PatternError as exc:
            errors.append(FieldError("validation_rules", "name_pattern", exc.error.message))
    if errors:
        raise ValidationError(errors)
    return dict(raw)


def _check_constraints(slot: Slot, value: Any) -> None:
    rules, label = slot.rules, slot.label
    if slot.data_type in ("string", "text"):
        if "min_length" in rules and len(value) < rules["min_length"]:
            raise _error(slot, "min_length", f"{label} must be at least {rules['min_length']} characters.")
        if "max_length" in rules and len(value) > rules["max_length"]:
            raise _error(slot, "max_length", f"{label} must be at most {rules['max_length']} characters "
                                             f"(got {len(value)}).")
        if "pattern" in rules and not patterns.matches(rules["pattern"], value, mode="fullmatch"):
            raise _error(slot, "pattern", f"{label} must match the pattern {rules['pattern']}.")
    elif "min" in rules or "max" in rules:
        compared = values.key(value)
        if "min" in rules and compared < _typed(slot.data_type, rules["min"]):
            raise _error(slot, "min", f"{label} must be at least {rules['min']} (got {to_json(slot, value)}).")
        if "max" in rules and compared > _typed(slot.data_type, rules["max"]):
            raise _error(slot, "max", f"{label} must be at most {rules['max']} (got {to_json(slot, value)}).")


def _error(slot: Slot, rule: str, message: str) -> FieldValueError:
    return FieldValueError(FieldError(slot.name, rule, message))


def to_json(slot: Slot, value: Any) -> Any:
    """Return a typed value in its one stored JSON form."""
    return values.to_json(value)


def check_value(slot: Slot, raw: Any) -> Any:
    """Return `raw` as the stored JSON value of `slot` (None when empty); raise FieldValueError."""
    if is_empty(raw):
        return None
    value = slot.parse(raw)
    _check_constraints(slot, value)
    return to_json(slot, value)


def filter_value(slot: Slot, raw: Any) -> Any:
    """Return a filter operand in the stored form, without the range rules; raise ValidationError."""
    try:
        return to_json(slot, slot.parse(raw))
    except FieldValueError as exc:
        raise ValidationError(exc.error) from None


def display(slot: Slot, value: Any) -> str:
    """Return a stored value as text for people."""
    if value is None:
        return ""
    if slot.data_type == "boolean":
        return "Yes" if value else "No"
    return str(value)
