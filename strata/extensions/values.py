"""Field values: coerce JSON or form input to a field's type and check the manifest's rules.

Used for manifest defaults and for every row written through the REST API or the data browser.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil import parser as dateparser

from strata.errors import FieldError

INT_RANGE = (-(2 ** 63), 2 ** 63 - 1)


class ValueProblem(Exception):
    """A value broke a rule: `rule` names it, the message says why."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueProblem("type", "must be a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        number = int(value)
    else:
        raise ValueProblem("type", "must be a whole number")
    if not INT_RANGE[0] <= number <= INT_RANGE[1]:
        raise ValueProblem("range", "is out of range for a whole number")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueProblem("type", "must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueProblem("type", "must be a number") from None
    except OverflowError:  # an integer beyond float's range, as JSON may carry
        raise ValueProblem("range", "is out of range for a floating-point number") from None
    if not math.isfinite(number):
        raise ValueProblem("type", "must be a finite number")
    return number


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueProblem("type", "must be a decimal number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueProblem("type", "must be a decimal number") from None
    if not number.is_finite():
        raise ValueProblem("type", "must be a finite decimal number")
    if abs(number.adjusted()) > 100:
        raise ValueProblem("range", "is out of range for a decimal number")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise ValueProblem("type", "must be true or false")


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueProblem("type", "must be a date-time such as 2025-01-31T12:00:00Z")
    try:
        moment = dateparser.isoparse(value.strip())
    except (ValueError, OverflowError):
        raise ValueProblem("type", "must be a date-time such as 2025-01-31T12:00:00Z") from None
    if not 1 <= moment.year <= 9999:
        raise ValueProblem("range", "is out of range for a date-time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueProblem("type", "must be text")
    if "\x00" in value:
        raise ValueProblem("type", "must not contain NUL characters")
    return value


def _json(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueProblem("type", "must not contain NUL characters")
    return value


COERCE = {"String": _string, "Int": _int, "Float": _float, "Decimal": _decimal, "Boolean": _bool,
          "DateTime": _datetime, "Json": _json}


def coerce(field_type: str, value: Any, enum_values: tuple[str, ...] | list[str] | None = None) -> Any:
    """Return `value` as the Python value of `field_type`; raise ValueProblem (enums: one of the values)."""
    if enum_values is not None:
        if not isinstance(value, str) or value not in enum_values:
            raise ValueProblem("enum", f"must be one of {', '.join(enum_values)}")
        return value
    return COERCE[field_type](value)


def check_rules(value: Any, rules: dict[str, Any] | None) -> None:
    """Raise ValueProblem if a coerced `value` breaks the manifest's validation rules."""
    if not rules or value is None:
        return
    if isinstance(value, str):
        if rules.get("minLength") is not None and len(value) < rules["minLength"]:
            raise ValueProblem("minLength", f"must be at least {rules['minLength']} characters")
        if rules.get("maxLength") is not None and len(value) > rules["maxLength"]:
            raise ValueProblem("maxLength", f"must be at most {rules['maxLength']} characters")
        if rules.get("pattern") and re.search(rules["pattern"], value) is None:
            raise ValueProblem("pattern", f"must match the pattern {rules['pattern']}")
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if rules.get("min") is not None and value < Decimal(str(rules["min"])):
            raise ValueProblem("min", f"must be at least {_number(rules['min'])}")
        if rules.get("max") is not None and value > Decimal(str(rules["max"])):
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
