"""Errors the domain raises for bad input, shared by pages, the JSON API and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FieldError:
    """One broken rule: the field it concerns, the rule's name and a message for people."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class ValidationError(Exception):
    """Input broke one or more rules; nothing was changed."""

    def __init__(self, errors: list[FieldError] | FieldError):
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(e.message for e in self.errors))

    @classmethod
    def single(cls, field: str, rule: str, message: str) -> ValidationError:
        return cls(FieldError(field, rule, message))

    def by_field(self) -> dict[str, list[str]]:
        """Return the messages grouped by field, for inline form errors."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped


class NotFound(Exception):
    """The object does not exist in this tenant (or must not be admitted to exist)."""


class Forbidden(Exception):
    """The current role may not do this."""
