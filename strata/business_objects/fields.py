"""Field types: turn a raw value (form string or JSON value) into a typed one, and back into JSON text.

`coerce` raises `FieldValueError` (carrying a `FieldError`) with a message that names the
field and shows what was given, e.g. "Employees must be a whole number (got 'abc').".
Empty input ("", whitespace, None, []) is None: whether a value is needed is the
`required` validator's business, not the type's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from strata.errors import FieldError

FIELD_TYPES = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "email", "url",
               "select", "multiselect", "json")
NUMERIC_TYPES = ("integer", "decimal")
TEMPORAL_TYPES = ("date", "datetime")
TEXT_TYPES = ("string", "text", "email", "url", "select")

STRING_MAX = 255
TEXT_MAX = 10_000
JSON_MAX = 20_000
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_DECIMAL = re.compile(r"[+-]?(\d{1,20}(\.\d{0,10})?|\.\d{1,10})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


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


class FieldValueError(ValueError):
    """A raw value does not fit its field's type."""

    def __init__(self, error: FieldError):
        self.error = error
        super().__init__(error.message)


def _fail(spec: FieldSpec, rule: str, expectation: str, raw: Any) -> FieldValueError:
    shown = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return FieldValueError(FieldError(spec.name, rule, f"{spec.label} must be {expectation} (got {shown!r})."))


def is_empty(raw: Any) -> bool:
    """Return True for the values that mean "no value": None, blank strings, empty lists."""
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw)


def _text(spec: FieldSpec, raw: Any, limit: int) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise _fail(spec, "type", "text", raw)
    value = str(raw).strip() if spec.field_type != "text" else str(raw)
    limit = min(limit, spec.max_length or limit)
    if len(value) > limit:
        raise FieldValueError(FieldError(spec.name, "max_length",
                                         f"{spec.label} must be at most {limit} characters (got {len(value)})."))
    return value


def _integer(spec: FieldSpec, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float | Decimal) and raw == int(raw):
        return int(raw)
    if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        return int(raw.strip())
    raise _fail(spec, "type", "a whole number", raw)


def _decimal(spec: FieldSpec, raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise _fail(spec, "type", "a number", raw)
    if isinstance(raw, int | float | Decimal):
        raw = str(raw)
    if isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            pass
    raise _fail(spec, "type", "a number", raw)


def _boolean(spec: FieldSpec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _fail(spec, "type", "yes or no (true/false)", raw)


def _date(spec: FieldSpec, raw: Any) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and _DATE.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise _fail(spec, "type", "a real date in YYYY-MM-DD form", raw)


def _datetime(spec: FieldSpec, raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else None
    if isinstance(raw, str) and _DATE.match(raw.strip()):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            value = None
    if value is None:
        raise _fail(spec, "type", "a real date and time in ISO 8601 form (YYYY-MM-DDTHH:MM)", raw)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _email(spec: FieldSpec, raw: Any) -> str:
    value = _text(spec, raw, 254)
    if not _EMAIL.fullmatch(value):
        raise _fail(spec, "type", "an email address like name@example.com", raw)
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _url(spec: FieldSpec, raw: Any) -> str:
    value = _text(spec, raw, 2000)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise _fail(spec, "type", "a web address starting with http:// or https://", raw)
    return value


def _select(spec: FieldSpec, raw: Any) -> str:
    value = _text(spec, raw, STRING_MAX)
    if value not in spec.options:
        raise _fail(spec, "choice", f"one of {', '.join(spec.options)}", raw)
    return value


def _multiselect(spec: FieldSpec, raw: Any) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise _fail(spec, "type", "a list of choices", raw)
    chosen: list[str] = []
    for item in items:
        value = _select(spec, item)
        if value not in chosen:
            chosen.append(value)
    return chosen


def _json(spec: FieldSpec, raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _fail(spec, "type", "valid JSON", raw) from None
    try:
        text = json.dumps(raw)
    except (TypeError, ValueError):
        raise _fail(spec, "type", "a JSON value", str(raw)) from None
    if len(text) > JSON_MAX:
        raise FieldValueError(FieldError(spec.name, "max_length", f"{spec.label} must be at most {JSON_MAX} "
                                                                  f"characters of JSON (got {len(text)})."))
    return raw


_COERCE = {
    "string": lambda spec, raw: _text(spec, raw, STRING_MAX),
    "text": lambda spec, raw: _text(spec, raw, TEXT_MAX),
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "email": _email,
    "url": _url,
    "select": _select,
    "multiselect": _multiselect,
    "json": _json,
}


def coerce(spec: FieldSpec, raw: Any) -> Any:
    """Return `raw` as the typed value of `spec` (None when empty); raise FieldValueError."""
    if is_empty(raw):
        return None
    return _COERCE[spec.field_type](spec, raw)


def serialise(field_type: str, value: Any) -> str | None:
    """Return the JSON text stored in business_object_extensions.field_value (None for no value)."""
    if value is None:
        return None
    if field_type == "decimal":
        return format(value, "f")  # a JSON number that keeps its exact digits
    return json.dumps(to_jsonable(value), sort_keys=True, ensure_ascii=False)


def deserialise(field_type: str, text: str | None) -> Any:
    """Return the typed value held in a field_value JSON text."""
    if text is None:
        return None
    if field_type == "decimal":
        return Decimal(text)
    value = json.loads(text)
    if field_type == "date":
        return date.fromisoformat(value)
    if field_type == "datetime":
        return datetime.fromisoformat(value)
    return value


def to_jsonable(value: Any) -> Any:
    """Return `value` in a form json.dumps accepts (dates as ISO text, decimals as strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value
