"""The built-in named custom rules: unique, compare, allowed_values, at_least_one_of."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import func, select

from strata import values
from strata.business_objects.validators import (
    Record,
    ValidatorSpec,
    _Config,
    custom_rule,
    normalise,
)
from strata.db import current_scope, db
from strata.errors import FieldError

_FIELD_NAME = r"^[a-z][a-z0-9_]{0,62}$"


class UniqueConfig(_Config):
    """Config of `unique`: the value may appear on only one of the tenant's objects of this type."""

    rule: Literal["unique"]


class CompareConfig(_Config):
    """Config of `compare`: `left op right`, e.g. end_date >= start_date."""

    rule: Literal["compare"]
    left: str = Field(pattern=_FIELD_NAME)
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    right: str = Field(pattern=_FIELD_NAME)


class AllowedValuesConfig(_Config):
    """Config of `allowed_values`: the value (each item, for lists) must be one of `values`."""

    rule: Literal["allowed_values"]
    values: list[str | int | float | bool] = Field(min_length=1, max_length=500)


class AtLeastOneOfConfig(_Config):
    """Config of `at_least_one_of`: one of `fields` must have a value."""

    rule: Literal["at_least_one_of"]
    fields: list[str] = Field(min_length=2, max_length=20)

    @field_validator("fields")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        import re

        for name in names:
            if not re.fullmatch(_FIELD_NAME, name):
                raise ValueError(f"{name!r} is not a field name")
        return names


@custom_rule("unique", UniqueConfig, "field")
def check_unique(validator: ValidatorSpec, record: Record) -> list[FieldError]:
    """Refuse a value another object of the same type already has."""
    name = validator.field_name or ""
    value = record.values.get(name)
    if value is None:
        return []
    _lock_value(record.entity_type, name, value)
    if not record.is_taken(name, value):
        return []
    label = record.label(name)
    return [FieldError(name, "unique", validator.message(f"{label} must be unique; another {record.entity_type} "
                                                          f"already has this value"))]


def _lock_value(entity_type: str, name: str, value: Any) -> None:
    """Hold a transaction-scoped advisory lock on the normalised value until commit.

    Two writers of the same value queue here, and the second one's probe (a fresh statement
    under READ COMMITTED) sees the first one's committed row, so exactly one of them wins."""
    scope = current_scope()
    text = f"unique:{scope.tenant_id if scope else 0}:{entity_type}:{name}:{values.normal_text(value)}"
    lock_id = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)
    db.session.execute(select(func.pg_advisory_xact_lock(lock_id)))


_WORDS = {">=": "greater than or equal to", ">": "greater than", "<=": "less than or equal to", "<": "less than",
          "==": "equal to", "!=": "different from"}
_DATE_WORDS = {">=": "on or after", ">": "after", "<=": "on or before", "<": "before", "==": "the same as",
               "!=": "different from"}
_OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):  # a date is its midnight in the tenant's timezone
        return datetime(value.year, value.month, value.day, tzinfo=values.tenant_zone())
    return normalise(value)


@custom_rule("compare", CompareConfig, "entity")
def check_compare(validator: ValidatorSpec, record: Record) -> list[FieldError]:
    """Refuse a record whose `left` and `right` fields break the comparison (skipped when one is empty)."""
    config: CompareConfig = validator.config  # type: ignore[assignment]
    left, right = record.values.get(config.left), record.values.get(config.right)
    if left is None or right is None:
        return []
    try:
        ok = _OPS[config.op](_comparable(left), _comparable(right))
    except TypeError:
        ok = False
    if ok:
        return []
    words = _DATE_WORDS if isinstance(left, date) else _WORDS
    text = f"{record.label(config.left)} must be {words[config.op]} {record.label(config.right)}"
    return [FieldError(config.left, "compare", validator.message(text))]


@custom_rule("allowed_values", AllowedValuesConfig, "field")
def check_allowed_values(validator: ValidatorSpec, record: Record) -> list[FieldError]:
    """Refuse a value (or list item) that is not in the configured list."""
    config: AllowedValuesConfig = validator.config  # type: ignore[assignment]
    name = validator.field_name or ""
    value = record.values.get(name)
    if value is None:
        return []
    allowed = [normalise(v) for v in config.values]
    items = value if isinstance(value, list) else [value]
    if all(normalise(item) in allowed for item in items):
        return []
    shown = ", ".join(str(v) for v in config.values[:20])
    text = f"{record.label(name)} must be one of {shown}"
    return [FieldError(name, "allowed_values", validator.message(text))]


@custom_rule("at_least_one_of", AtLeastOneOfConfig, "entity")
def check_at_least_one_of(validator: ValidatorSpec, record: Record) -> list[FieldError]:
    """Refuse a record in which every one of the listed fields is empty."""
    config: AtLeastOneOfConfig = validator.config  # type: ignore[assignment]
    if any(record.values.get(name) not in (None, "", []) for name in config.fields):
        return []
    labels = ", ".join(record.label(name) for name in config.fields)
    text = f"Give at least one of {labels}"
    return [FieldError(config.fields[0], "at_least_one_of", validator.message(text))]
