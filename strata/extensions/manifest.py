"""The extension manifest (seed 003's `ExtensionDatabaseSchema`): pydantic models and parsing.

`parse(text_or_mapping)` accepts JSON or YAML text, or an already decoded mapping, and returns
a `Manifest` or raises `ValidationError` whose every `FieldError.field` is the JSON path of the
offending value (`tables[0].fields[2].type`). Rules that span several parts of one manifest
(names, references, defaults) live in `checks.py`; rules against the database in `registry.py`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError

from strata import limits, patterns
from strata.errors import FieldError, ValidationError

SCALAR_TYPES = ("String", "Int", "Float", "Boolean", "DateTime", "Decimal", "Json")
RELATION_TYPES = ("OneToOne", "OneToMany", "ManyToMany")
ON_DELETE = {"Cascade": "CASCADE", "SetNull": "SET NULL", "Restrict": "RESTRICT", "NoAction": "NO ACTION"}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
PLUGIN_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Validation(_Model):
    """Rules a value must meet: lengths and pattern for strings, bounds for numbers."""

    minLength: int | None = Field(default=None, ge=0)
    maxLength: int | None = Field(default=None, ge=0)
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(default=None, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                patterns.check(value)
            except patterns.PatternError as exc:
                raise ValueError(str(exc)) from None
        return value


class ExtensionField(_Model):
    """One column: a scalar type or the name of an enum of this manifest."""

    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    required: bool = False
    default: Any = None
    description: str = Field(default="", max_length=500)
    validation: Validation | None = None


class ExtensionIndex(_Model):
    """An index on one or more fields of its table."""

    name: str | None = Field(default=None, max_length=200)
    fields: list[str] = Field(min_length=1, max_length=32)
    unique: bool = False


class ExtensionUniqueConstraint(_Model):
    """A unique constraint over one or more fields."""

    name: str | None = Field(default=None, max_length=200)
    fields: list[str] = Field(min_length=1, max_length=32)


class ExtensionTable(_Model):
    """A table; created as `plugin_<namespace>_<name>` with a uuid `id` and timestamps."""

    name: str = Field(min_length=1, max_length=200)
    namespace: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=500)
    fields: list[ExtensionField] = Field(default_factory=list, max_length=2000)
    indexes: list[ExtensionIndex] = Field(default_factory=list, max_length=64)
    uniqueConstraints: list[ExtensionUniqueConstraint] = Field(default_factory=list, max_length=64)

    def field(self, name: str) -> ExtensionField | None:
        """Return the field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)


class ExtensionEnum(_Model):
    """An enum type: its values in order and, per locale, their labels."""

    name: str = Field(min_length=1, max_length=200)
    values: list[str] = Field(min_length=1, max_length=500)
    localization: dict[str, dict[str, str]] = Field(default_factory=dict)


class ExtensionRelationship(_Model):
    """A foreign key (OneToOne, OneToMany) or a join table (ManyToMany) from `source` to `target`."""

    source: str = Field(min_length=1, max_length=200)
    sourceField: str = Field(min_length=1, max_length=200)
    target: str = Field(min_length=1, max_length=200)
    targetField: str = Field(default="id", min_length=1, max_length=63)
    type: Literal["OneToOne", "OneToMany", "ManyToMany"]
    onDelete: Literal["Cascade", "SetNull", "Restrict", "NoAction"] = "Restrict"
    required: bool = False


class ExtensionMetadata(_Model):
    """Who wrote the extension, and the namespace that prefixes its tables and enums."""

    namespace: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=200)
    constraints: dict[str, Any] = Field(default_factory=dict)


class Manifest(_Model):
    """An extension's database schema: tables, enums, relationships and metadata."""

    pluginId: str = Field(min_length=1, max_length=100)
    version: str = Field(max_length=50)
    tables: list[ExtensionTable] = Field(default_factory=list, max_length=200)
    enums: list[ExtensionEnum] = Field(default_factory=list, max_length=200)
    relationships: list[ExtensionRelationship] = Field(default_factory=list, max_length=500)
    metadata: ExtensionMetadata

    @field_validator("pluginId")
    @classmethod
    def _plugin_id(cls, value: str) -> str:
        if not PLUGIN_ID.match(value):
            raise ValueError("pluginId must be lowercase letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit")
        return value

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError("version must be a semantic version such as 1.2.0")
        return value

    def table(self, name: str) -> ExtensionTable | None:
        """Return the table called `name`, or None."""
        return next((t for t in self.tables if t.name == name), None)

    def enum(self, name: str) -> ExtensionEnum | None:
        """Return the enum called `name`, or None."""
        return next((e for e in self.enums if e.name == name), None)

    def definition(self) -> dict[str, Any]:
        """Return the manifest as plain JSON data (as stored in the registry)."""
        return self.model_dump(mode="json", exclude_none=True)


def json_path(location: tuple) -> str:
    """Return a pydantic error location as a JSON path: ('tables', 0, 'name') → 'tables[0].name'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "manifest"


def decode(text: str) -> Any:
    """Return the data of JSON or YAML `text`; raise ValidationError naming the line if it is neither.

    Both go through `strata.limits`: a size cap, bounded nesting, no YAML aliases, numbers within a bigint.
    """
    try:
        return limits.load_json(text, "manifest")
    except ValidationError as exc:
        if exc.errors[0].rule != "syntax":
            raise
    try:
        return limits.load_yaml(text, "manifest")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ValidationError.single("manifest", "syntax", f"The manifest is neither JSON nor YAML{where}.") from None


def unstorable(data: Any) -> list[FieldError]:
    """Return errors for values PostgreSQL's jsonb cannot store (NaN or infinite numbers, NUL characters)
    and for values beyond `strata.limits` (nesting, width, numbers beyond a bigint), found without recursion."""
    errors = []
    for path, depth, value in limits.walk(data):
        path = path or "manifest"
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(path, "finite", f"{path} must be a finite number."))
        elif isinstance(value, str) and "\x00" in value:
            errors.append(FieldError(path, "nul", f"{path} must not contain NUL characters."))
        else:
            found = limits.problem(path, depth, value)
            if found is not None:
                errors.append(found)
        if len(errors) >= 50 or (errors and errors[-1].rule in ("depth", "width")):
            break
    return sorted(errors, key=lambda e: e.field)


def parse(source: str | bytes | dict[str, Any]) -> Manifest:
    """Return the Manifest in `source` (JSON/YAML text or a mapping); raise ValidationError with JSON paths."""
    data = source
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError.single("manifest", "encoding", "The manifest must be UTF-8 text.") from None
    if isinstance(source, str):
        if not source.strip():
            raise ValidationError.single("manifest", "required", "Paste or upload a manifest.")
        data = decode(source)
    if not isinstance(data, dict):
        raise ValidationError.single("manifest", "type", "The manifest must be an object with pluginId, version, "
                                                         "tables, enums, relationships and metadata.")
    problems = unstorable(data)
    if problems:
        raise ValidationError(problems)
    try:
        return Manifest.model_validate(data)
    except PydanticError as exc:
        errors = [FieldError(json_path(e["loc"]), e["type"], f"{json_path(e['loc'])}: {e['msg']}")
                  for e in exc.errors()]
        raise ValidationError(errors) from None
