"""Validator types and the registry of named custom rules.

Each validator's JSON config is checked by a pydantic model when the validator is
defined, so a bad config is refused then, never discovered while saving an object.
Checks are pure: they see typed values and a `Record`, and return `FieldError`s whose
message names the field's label and the rule. User text is never evaluated; regular
expressions are compiled and matched by `strata.patterns` (RE2, linear time, length caps).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from strata import patterns, values
from strata.business_objects.fields import NUMERIC_TYPES, TEMPORAL_TYPES, FieldSpec, is_empty
from strata.errors import FieldError

VALIDATOR_TYPES = ("required", "format", "range", "custom")
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{5,24}")
_URL = re.compile(r"https?://[^\s/?#]+\.[^\s/?#]+[^\s]*")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    message: str | None = Field(default=None, max_length=300)


class RequiredConfig(_Config):
    """Config of `required`: only an optional custom message."""


class FormatConfig(_Config):
    """Config of `format`: a kind, and a pattern when the kind is regex."""

    kind: Literal["regex", "email", "url", "phone"]
    pattern: str | None = None

    @model_validator(mode="after")
    def _pattern_is_safe(self) -> FormatConfig:
        if self.kind != "regex":
            if self.pattern is not None:
                raise ValueError("pattern is only used with kind 'regex'")
            return self
        if not self.pattern:
            raise ValueError("a regex format needs a pattern")
        try:
            patterns.check(self.pattern, "pattern", "Pattern")
        except patterns.PatternError as exc:
            raise ValueError(str(exc)) from None
        return self


class RangeConfig(_Config):
    """Config of `range`: inclusive bounds on a number, a date, or a length."""

    kind: Literal["number", "date", "length"]
    min: Decimal | date | int | None = None
    max: Decimal | date | int | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_bounds(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        converters = {"number": Decimal, "date": date.fromisoformat, "length": int}
        convert = converters.get(data.get("kind"))
        out = dict(data)
        for key in ("min", "max"):
            if convert and out.get(key) is not None:
                if isinstance(out[key], bool) or isinstance(out[key], list | dict):
                    raise ValueError(f"{key} must be a {data['kind']}")
                try:
                    out[key] = convert(str(out[key]))
                except (ValueError, ArithmeticError):
                    raise ValueError(f"{key} must be a {data['kind']} (got {out[key]!r})") from None
        return out

    @model_validator(mode="after")
    def _bounds_in_order(self) -> RangeConfig:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.kind == "length" and any(b is not None and b < 0 for b in (self.min, self.max)):
            raise ValueError("length bounds cannot be negative")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


@dataclass
class Record:
    """The object being validated: typed values by field name, the field specs, and a uniqueness probe."""

    entity_type: str
    entity_id: int | None
    values: dict[str, Any]
    specs: dict[str, FieldSpec]
    is_taken: Callable[[str, Any], bool] = lambda name, value: False
    checked: set[str] = field(default_factory=set)

    def label(self, name: str) -> str:
        spec = self.specs.get(name)
        return spec.label if spec else name


@dataclass(frozen=True)
class ValidatorSpec:
    """A validator as the cache holds it: its row's columns with the config already parsed."""

    id: int | None
    entity_type: str
    name: str
    validator_type: str
    field_name: str | None
    config: BaseModel
    company_id: int | None = None

    def message(self, default: str) -> str:
        custom = getattr(self.config, "message", None)
        text = custom or default
        return f"{text.rstrip('.')} (rule '{self.name}')."


@dataclass(frozen=True)
class CustomRule:
    """A named rule usable in a `custom` validator: its config model, check, and level."""

    name: str
    config: type[_Config]
    check: Callable[[ValidatorSpec, Record], list[FieldError]]
    level: Literal["field", "entity"]


CUSTOM_RULES: dict[str, CustomRule] = {}


def custom_rule(name: str, config: type[_Config], level: Literal["field", "entity"]):
    """Register the decorated check as the custom rule `name`."""

    def register(check: Callable[[ValidatorSpec, Record], list[FieldError]]):
        CUSTOM_RULES[name] = CustomRule(name, config, check, level)
        return check

    return register


def parse_config(validator_type: str, raw: dict[str, Any] | None) -> BaseModel:
    """Return the parsed config of a validator; raise ValueError naming what is wrong."""
    raw = dict(raw or {})
    if validator_type not in VALIDATOR_TYPES:
        raise ValueError(f"validator type must be one of {', '.join(VALIDATOR_TYPES)}")
    if validator_type == "custom":
        rule = CUSTOM_RULES.get(str(raw.get("rule")))
        if rule is None:
            raise ValueError(f"custom rule must be one of {', '.join(sorted(CUSTOM_RULES))}")
        model: type[_Config] = rule.config
    else:
        model = {"required": RequiredConfig, "format": FormatConfig, "range": RangeConfig}[validator_type]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValueError("; ".join(_pydantic_message(e) for e in exc.errors())) from None


def _pydantic_message(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def rule_level(validator_type: str, config: BaseModel) -> str:
    """Return "entity" for rules that span fields (field_name NULL), else "field"."""
    if validator_type == "custom":
        return CUSTOM_RULES[config.rule].level  # type: ignore[attr-defined]
    return "field"


def check(validator: ValidatorSpec, record: Record) -> list[FieldError]:
    """Return the errors `validator` finds in `record` (empty when it passes)."""
    if validator.validator_type == "custom":
        return CUSTOM_RULES[validator.config.rule].check(validator, record)  # type: ignore[attr-defined]
    name = validator.field_name or ""
    value = record.values.get(name)
    if validator.validator_type == "required":
        if is_empty(value):
            return [FieldError(name, "required", validator.message(f"{record.label(name)} is required"))]
        return []
    if value is None:
        return []
    checker = _check_format if validator.validator_type == "format" else _check_range
    problem = checker(validator.config, value, record.label(name))
    return [FieldError(name, validator.validator_type, validator.message(problem))] if problem else []


def _check_format(config: FormatConfig, value: Any, label: str) -> str | None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        text = str(item)
        if config.kind == "regex" and not patterns.matches(config.pattern or "", text):
            return f"{label} does not match the required pattern"
        if config.kind == "email" and not _parses("email", text):
            return f"{label} must be an email address like name@example.com"
        if config.kind == "url" and not _URL.fullmatch(text):
            return f"{label} must be a web address starting with http:// or https://"
        if config.kind == "phone" and not (_PHONE.fullmatch(text) and sum(c.isdigit() for c in text) >= 6):
            return f"{label} must be a phone number like +44 20 7946 0958"
    return None


def _parses(value_type: str, text: str) -> bool:
    try:
        values.parse(value_type, text)
    except values.ValueProblem:
        return False
    return True


def _check_range(config: RangeConfig, value: Any, label: str) -> str | None:
    if config.kind == "length":
        measured: Any = len(value) if isinstance(value, str | list) else len(str(value))
        unit = " items" if isinstance(value, list) else " characters"
        low, high = f"at least {config.min}{unit}", f"at most {config.max}{unit}"
        prefix = f"{label} must be "
    elif config.kind == "date":
        measured = values.local_date(value) if isinstance(value, date) else value
        if not isinstance(measured, date):
            return f"{label} is not a date"
        low, high = f"on or after {config.min}", f"on or before {config.max}"
        prefix = f"{label} must be "
    else:
        if not isinstance(value, int | Decimal) or isinstance(value, bool):
            return f"{label} is not a number"
        measured = Decimal(value)
        low, high = f"at least {config.min}", f"at most {config.max}"
        prefix = f"{label} must be "
    if config.min is not None and measured < config.min:
        return prefix + low
    if config.max is not None and measured > config.max:
        return prefix + high
    return None


def compatible_kinds(field_type: str) -> set[str]:
    """Return the range kinds and format kinds that make sense for a field type."""
    kinds = {"length"} if field_type not in NUMERIC_TYPES + TEMPORAL_TYPES + ("boolean", "json") else set()
    if field_type in NUMERIC_TYPES:
        kinds.add("number")
    if field_type in TEMPORAL_TYPES:
        kinds.add("date")
    return kinds


def normalise(value: Any) -> Any:
    """Return a comparable form of a typed or JSON value (numbers as Decimal, the rest in stored JSON form)."""
    compared = values.key(value)
    return compared if isinstance(compared, Decimal) else values.to_json(compared)


from strata.business_objects import rules as _rules  # noqa: E402,F401  (registers the built-in custom rules)
