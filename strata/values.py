"""Typed values: one parse, validate, serialise and compare for every value type in Strata.

Custom fields of business objects, thing attributes and extension fields all turn raw input
(form text or a JSON value) into typed values here, so `" 42 "`, `"y"` or `"+20:00"` mean the
same thing everywhere. The accepted inputs per type are the README's "Values" table.

- `parse(type, raw, …)` returns the typed value or raises `ValueProblem` (a rule and the words
  after the field's name: "must be a whole number"); callers add the field's name or label.
- `to_json` / `from_json` give the one stored JSON form (decimals as exact digits in text,
  dates as YYYY-MM-DD, date-times as ISO 8601 in UTC) and back.
- `key` is what values are compared by: numbers as numbers (1.10 equals 1.1), date-times as
  instants, text as given. `normal_text` is that key as text, for uniqueness.
Empty input is the caller's business (`is_empty`): whether a value is needed is a rule, not a type.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from strata.errors import FieldError

TYPES = ("string", "text", "integer", "decimal", "float", "boolean", "date", "datetime", "email", "url",
         "select", "enum", "multiselect", "json", "reference")
NUMERIC_TYPES = ("integer", "decimal", "float", "reference")
TEMPORAL_TYPES = ("date", "datetime")

STRING_MAX = 255
TEXT_MAX = 10_000
JSON_MAX = 20_000
INTEGER_RANGE = (-(2 ** 63), 2 ** 63 - 1)  # PostgreSQL bigint
DECIMAL_DIGITS = (20, 10)  # at most 20 digits before the point and 10 after (trailing zeros dropped)
FLOAT_MAX = 1e308
OFFSET_RANGE = (timedelta(hours=-12), timedelta(hours=14))  # the offsets in use on Earth
_WIDE = Context(prec=60)
_INTEGER = re.compile(r"[+-]?\d{1,20}")
_DECIMAL = re.compile(r"[+-]?(\d{1,80}(\.\d{0,80})?|\.\d{1,80})")
_FLOAT = re.compile(r"[+-]?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})([eE][+-]?\d{1,3})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


class ValueProblem(ValueError):
    """A raw value does not fit its type: `rule` names the broken rule, the text follows the field's name."""

    def __init__(self, rule: str, text: str, show_raw: bool = True):
        self.rule, self.text, self.show_raw = rule, text, show_raw
        super().__init__(text)


class FieldValueError(ValueError):
    """A raw value does not fit its field: carries the FieldError naming the field and the rule."""

    def __init__(self, error: FieldError):
        self.error = error
        super().__init__(error.message)


def field_error(name: str, label: str, problem: ValueProblem, raw: Any) -> FieldValueError:
    """Return the FieldValueError of a ValueProblem: "<label> <rule text> (got '<raw>')."."""
    given = f" (got {shown(raw)!r})" if problem.show_raw else ""
    return FieldValueError(FieldError(name, problem.rule, f"{label} {problem.text}{given}."))


def is_empty(raw: Any) -> bool:
    """Return True for the values that mean "no value": None, blank strings, empty lists."""
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw)


def shown(raw: Any) -> str:
    """Return `raw` as a short text for an error message."""
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(raw: Any, limit: int, strip: bool = True) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal) and not (
            isinstance(raw, float) and math.isfinite(raw)):
        raise ValueProblem("type", "must be text")
    value = str(raw).strip() if strip else str(raw)
    if "\x00" in value:
        raise ValueProblem("type", "must not contain NUL characters", show_raw=False)
    if len(value) > limit:
        raise ValueProblem("max_length", f"must be at most {limit} characters (got {len(value)})", show_raw=False)
    return value


def _integer(raw: Any) -> int:
    number: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, float | Decimal) and math.isfinite(raw) and raw == int(raw):
        number = int(raw)
    elif isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        number = int(raw.strip())
    if number is None:
        raise ValueProblem("type", "must be a whole number")
    if not INTEGER_RANGE[0] <= number <= INTEGER_RANGE[1]:
        raise ValueProblem("range", f"must be between {INTEGER_RANGE[0]} and {INTEGER_RANGE[1]}")
    return number


def normal_decimal(value: Decimal) -> Decimal:
    """Return `value` without trailing zeros (0 for any zero), so equal numbers have one form."""
    return Decimal(0) if value == 0 else Decimal(format(value.normalize(_WIDE), "f"))  # 100, never 1E+2


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        raise ValueProblem("type", "must be a number")
    if isinstance(raw, float | Decimal) and not math.isfinite(raw):
        raise ValueProblem("type", "must be a finite number")
    text = raw.strip() if isinstance(raw, str) else format(Decimal(repr(raw) if isinstance(raw, float) else raw), "f")
    if not _DECIMAL.fullmatch(text):
        raise ValueProblem("type", "must be a number")
    value = normal_decimal(Decimal(text))
    whole, places = DECIMAL_DIGITS
    exponent = value.as_tuple().exponent
    if max(value.adjusted() + 1, 0) > whole:
        raise ValueProblem("range", f"must have at most {whole} digits before the decimal point")
    if isinstance(exponent, int) and -exponent > places:
        raise ValueProblem("range", f"must have at most {places} decimal places")
    return value


def _float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        raise ValueProblem("type", "must be a number")
    if isinstance(raw, str) and not _FLOAT.fullmatch(raw.strip()):
        raise ValueProblem("type", "must be a number")
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > FLOAT_MAX:
        raise ValueProblem("range", "is out of range for a floating-point number")
    return number


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueProblem("type", "must be yes or no (true/false)")


def _date(raw: Any) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and _DATE.fullmatch(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise ValueProblem("type", "must be a real date in YYYY-MM-DD form")


def _datetime(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else None
    if isinstance(raw, str) and _DATE.match(raw.strip()) and len(raw) <= 64:
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            value = None
    if value is None:
        raise ValueProblem("type", "must be a real date and time in ISO 8601 form (YYYY-MM-DDTHH:MM)")
    offset = value.utcoffset()
    if offset is not None and not OFFSET_RANGE[0] <= offset <= OFFSET_RANGE[1]:
        raise ValueProblem("offset", "must have a UTC offset between -12:00 and +14:00")
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueProblem("range", "is out of range for a date and time") from None


def _email(raw: Any) -> str:
    value = _text(raw, 254)
    if not _EMAIL.fullmatch(value):
        raise ValueProblem("type", "must be an email address like name@example.com")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _url(raw: Any) -> str:
    value = _text(raw, 2000)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueProblem("type", "must be a web address starting with http:// or https://")
    return value


def _choice(raw: Any, options: Sequence[str]) -> str:
    value = _text(raw, STRING_MAX)
    if value not in options:
        raise ValueProblem("choice", f"must be one of {', '.join(options)}")
    return value


def _multiselect(raw: Any, options: Sequence[str]) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueProblem("type", "must be a list of choices")
    chosen: list[str] = []
    for item in items:
        value = _choice(item, options)
        if value not in chosen:
            chosen.append(value)
    return chosen


def _json(raw: Any, text_is_json: bool) -> Any:
    if isinstance(raw, str) and text_is_json:
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueProblem("type", "must be valid JSON") from None
    try:
        text = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueProblem("type", "must be a JSON value") from None
    if "\\u0000" in text:
        raise ValueProblem("type", "must not contain NUL characters", show_raw=False)
    if len(text) > JSON_MAX:
        raise ValueProblem("max_length", f"must be at most {JSON_MAX} characters of JSON (got {len(text)})",
                           show_raw=False)
    return raw


def _reference(raw: Any) -> int:
    number = _integer(raw)
    if number <= 0:
        raise ValueProblem("reference", "must be the id of a thing")
    return number


def parse(value_type: str, raw: Any, *, options: Sequence[str] = (), max_length: int | None = None,
          text_is_json: bool = True) -> Any:
    """Return `raw` as the typed value of `value_type`; raise ValueProblem.

    `options` are the choices of select, enum and multiselect; `max_length` replaces the text
    limit (255 for string, 10,000 for text); `text_is_json` reads a string given to a json field
    as JSON text (form input)."""
    if value_type in ("string", "text"):
        limit = STRING_MAX if value_type == "string" else TEXT_MAX
        return _text(raw, max_length or limit, strip=value_type == "string")
    if value_type in ("select", "enum"):
        return _choice(raw, options)
    if value_type == "multiselect":
        return _multiselect(raw, options)
    if value_type == "json":
        return _json(raw, text_is_json)
    if value_type not in _PARSERS:
        raise ValueError(f"unknown value type {value_type!r}")
    return _PARSERS[value_type](raw)


_PARSERS = {"integer": _integer, "decimal": _decimal, "float": _float, "boolean": _boolean, "date": _date,
            "datetime": _datetime, "email": _email, "url": _url, "reference": _reference}


def to_json(value: Any) -> Any:
    """Return a typed value in its stored JSON form (decimals as digits in text, date-times in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(normal_decimal(value), "f")
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value_type: str, stored: Any) -> Any:
    """Return the typed value held in a stored JSON form."""
    if stored is None:
        return None
    if value_type == "decimal":
        return Decimal(str(stored))
    if value_type == "date":
        return date.fromisoformat(stored)
    if value_type == "datetime":
        return datetime.fromisoformat(stored).astimezone(UTC)
    return stored


def key(value: Any) -> Any:
    """Return what `value` is compared by: numbers as Decimal, date-times as UTC instants, lists item by item."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return normal_decimal(Decimal(repr(value) if isinstance(value, float) else value))
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        return [key(v) for v in value]
    return value


def normal_text(value: Any) -> str:
    """Return the one text form of a typed value, equal for equal values (`1.10` and `1.1` alike)."""
    return json.dumps(to_json(key(value)), sort_keys=True, ensure_ascii=False, default=str)


def tenant_zone() -> ZoneInfo:
    """Return the current tenant's timezone (Tenant.timezone; UTC outside a tenant or when unknown)."""
    from sqlalchemy import select

    from strata.db import current_scope, db
    from strata.tenancy.models import Tenant

    scope = current_scope()
    name = db.session.scalar(select(Tenant.timezone).where(Tenant.id == scope.tenant_id)) if scope else None
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(value: date | datetime, zone: ZoneInfo | None = None) -> date:
    """Return the calendar date of a date, or of a date-time's instant in `zone` (the tenant's by default)."""
    if not isinstance(value, datetime):
        return value
    return value.astimezone(zone or tenant_zone()).date()
