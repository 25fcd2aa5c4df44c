"""Rows of extension tables: PostgREST-style filters, order and paging, and validated writes.

Filters are `column=op.value` with op one of eq, neq, lt, lte, gt, gte, like, ilike (`*` is the
wildcard), in (`in.(a,b)`) and is (`is.null`, `is.true`, `is.false`); `order=col.desc.nullslast,col2`;
`limit` / `offset`. Values are checked against the column's type before they reach SQL, and every
write is checked against the manifest's rules, so bad input is a ValidationError, never a database error.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.extensions import values
from strata.extensions.runtime import TableSpec

OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "like", "ilike", "in", "is")
RESERVED_PARAMS = ("order", "limit", "offset", "select")
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
TOTAL = "__total"
SYSTEM = {"id": "uuid", "created_at": "DateTime", "updated_at": "DateTime"}
RELATION_TYPES = {"uuid": "uuid", "integer": "Int", "bigint": "Int", "text": "String"}


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class Order:
    column: str
    desc: bool = False
    nulls: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int


def column_kind(spec: TableSpec, column: str) -> str | None:
    """Return the value kind of a column (a manifest type, 'uuid' or 'enum'), or None if there is no such column."""
    if column in SYSTEM:
        return SYSTEM[column]
    if column in spec.fields:
        return "enum" if spec.enum_values(column) is not None else spec.fields[column]["type"]
    if column in spec.relations:
        return RELATION_TYPES.get(spec.relations[column]["sql_type"], "String")
    return None


def _coerce(spec: TableSpec, column: str, kind: str, raw: Any) -> Any:
    if kind == "uuid":
        try:
            return str(uuid.UUID(str(raw)))
        except ValueError:
            raise values.ValueProblem("type", "must be a UUID") from None
    if kind == "enum":
        return values.coerce("String", raw, spec.enum_values(column))
    return values.coerce(kind, raw)


def parse_filters(spec: TableSpec, args: list[tuple[str, list[str]]]) -> list[Filter]:
    """Return the filters in query parameters; raise ValidationError naming each bad one."""
    filters, errors = [], []
    for column, raws in args:
        if column in RESERVED_PARAMS:
            continue
        kind = column_kind(spec, column)
        if kind is None:
            errors.append(FieldError(column, "unknown", f"{spec.name} has no column {column!r}."))
            continue
        for raw in raws:
            try:
                filters.append(_filter(spec, column, kind, raw))
            except values.ValueProblem as problem:
                errors.append(FieldError(column, problem.rule, f"Filter {column}={raw}: {problem}."))
    if errors:
        raise ValidationError(errors)
    return filters


def _filter(spec: TableSpec, column: str, kind: str, raw: str) -> Filter:
    op, dot, value = raw.partition(".")
    if not dot or op not in OPERATORS:
        raise values.ValueProblem("operator", f"use op.value with op one of {', '.join(OPERATORS)}")
    if op == "is":
        if value.lower() not in ("null", "true", "false"):
            raise values.ValueProblem("operator", "is takes null, true or false")
        if value.lower() != "null" and kind != "Boolean":
            raise values.ValueProblem("operator", "is.true and is.false apply to Boolean columns")
        return Filter(column, op, {"null": None, "true": True, "false": False}[value.lower()])
    if kind == "Json":
        raise values.ValueProblem("operator", "Json columns can only be filtered with is.null")
    if op in ("like", "ilike"):
        if kind not in ("String", "enum"):
            raise values.ValueProblem("operator", f"{op} applies to text columns")
        return Filter(column, op, value.replace("*", "%"))
    if op == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise values.ValueProblem("operator", "in takes a list in parentheses: in.(a,b)")
        items = [v.strip().strip('"') for v in value[1:-1].split(",") if v.strip()]
        return Filter(column, op, [_coerce(spec, column, kind, v) for v in items])
    if kind == "Boolean" and op not in ("eq", "neq"):
        raise values.ValueProblem("operator", "Boolean columns take eq, neq or is")
    return Filter(column, op, _coerce(spec, column, kind, value))


def parse_order(spec: TableSpec, raw: str | None) -> list[Order]:
    """Return the order in `order=a.desc.nullslast,b`; raise ValidationError for unknown columns or modifiers."""
    orders = []
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        column, *modifiers = part.strip().split(".")
        if column_kind(spec, column) is None:
            raise ValidationError.single("order", "unknown", f"order: {spec.name} has no column {column!r}.")
        if column in spec.fields and spec.fields[column]["type"] == "Json":
            raise ValidationError.single("order", "type", f"order: Json column {column!r} cannot be ordered by.")
        if any(m not in ("asc", "desc", "nullsfirst", "nullslast") for m in modifiers):
            raise ValidationError.single("order", "modifier", "order: modifiers are asc, desc, nullsfirst, nullslast.")
        nulls = next((m[5:] for m in modifiers if m.startswith("nulls")), None)
        orders.append(Order(column, "desc" in modifiers, nulls))
    return orders


def parse_page(limit: Any, offset: Any, range_header: str | None = None) -> tuple[int, int]:
    """Return (limit, offset) from parameters or a `Range: 0-24` header; ValidationError when out of bounds."""
    if range_header and limit is None and offset is None:
        match = re.fullmatch(r"\s*(\d+)-(\d+)\s*", range_header)
        if match is None or int(match[2]) < int(match[1]):
            raise ValidationError.single("Range", "format", "Range must be first-last, e.g. 0-24.")
        return min(int(match[2]) - int(match[1]) + 1, MAX_LIMIT), int(match[1])
    result = []
    for name, raw, default, high in (("limit", limit, DEFAULT_LIMIT, MAX_LIMIT), ("offset", offset, 0, 10 ** 9)):
        try:
            number = default if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            raise ValidationError.single(name, "type", f"{name} must be a whole number.") from None
        if not 0 <= number <= high:
            raise ValidationError.single(name, "range", f"{name} must be between 0 and {high}.")
        result.append(number)
    return result[0], result[1]


def _condition(column: sa.Column, f: Filter):
    if f.op == "is":
        return column.is_(None) if f.value is None else column.is_(f.value)
    if f.op == "in":
        return column.in_(f.value)
    if f.op == "like":
        return column.cast(sa.Text).like(f.value)
    if f.op == "ilike":
        return column.cast(sa.Text).ilike(f.value)
    return {"eq": column.__eq__, "neq": column.__ne__, "lt": column.__lt__, "lte": column.__le__,
            "gt": column.__gt__, "gte": column.__ge__}[f.op](f.value)


def list_rows(spec: TableSpec, filters: list[Filter], order: list[Order], limit: int, offset: int,
              count: bool = True) -> Page:
    """Return one page of rows matching every filter, and the total (None when count is off)."""
    table = spec.table
    where = [_condition(table.c[f.column], f) for f in filters]
    query = sa.select(table).where(*where)
    for o in order or [Order("created_at"), Order("id")]:
        expression = table.c[o.column].desc() if o.desc else table.c[o.column].asc()
        if o.nulls:
            expression = expression.nulls_first() if o.nulls == "first" else expression.nulls_last()
        query = query.order_by(expression)
    counting = sa.select(sa.func.count()).select_from(table).where(*where)
    if count:  # one round trip: the count rides along as an uncorrelated subquery (computed once)
        query = query.add_columns(counting.scalar_subquery().label(TOTAL))
    found = [dict(r) for r in db.session.execute(query.limit(limit).offset(offset)).mappings()]
    total = found[0].pop(TOTAL) if count and found else None
    for row in found[1:] if count else ():
        row.pop(TOTAL)
    if count and not found:
        total = db.session.scalar(counting) if offset else 0
    return Page([serialise(r) for r in found], total, limit, offset)


def serialise(row: dict[str, Any]) -> dict[str, Any]:
    """Return a row as JSON-ready values (decimals as strings, date-times in ISO 8601)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[key] = value
    return out


def relation_choices(spec: TableSpec, column: str, limit: int = 500) -> list[tuple[str, str]] | None:
    """Return (value, label) pairs for a relationship column whose target has a `name` column, else None."""
    from strata.extensions import catalog

    rel = spec.relations[column]
    if catalog.column(rel["target"], "name") is None:
        return None
    target = sa.table(rel["target"], sa.column(rel["column"]), sa.column("name"))
    query = sa.select(target.c[rel["column"]], target.c.name).order_by(target.c.name).limit(limit)
    return [(str(value), str(label)) for value, label in db.session.execute(query)]


def _id(raw: Any) -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise NotFound("no such row") from None


def get_row(spec: TableSpec, row_id: Any) -> dict[str, Any]:
    """Return one row; raise NotFound."""
    row = db.session.execute(sa.select(spec.table).where(spec.table.c.id == _id(row_id))).mappings().first()
    if row is None:
        raise NotFound("no such row")
    return serialise(dict(row))


def clean(spec: TableSpec, body: Any, *, partial: bool) -> dict[str, Any]:
    """Return the body's values checked against the manifest; ValidationError listing each broken rule."""
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", "The request body must be a JSON object of column: value.")
    errors, clean_values = [], {}
    for key, raw in body.items():
        kind = column_kind(spec, key) if key not in SYSTEM else None
        if kind is None:
            errors.append(FieldError(key, "unknown", f"{key} is not a writable column of {spec.name}."))
            continue
        required = spec.fields[key].get("required") if key in spec.fields else spec.relations[key]["required"]
        if raw is None:
            if required:
                errors.append(FieldError(key, "required", f"{key} is required."))
            else:
                clean_values[key] = None
            continue
        if key in spec.fields:
            value, problem = values.validate(spec.fields[key], raw, spec.enum_values(key), key)
        else:
            value, problem = _relation_value(spec, key, kind, raw)
        if problem is not None:
            errors.append(problem)
        else:
            clean_values[key] = value
    if not partial:
        for name, field in spec.fields.items():
            if field.get("required") and field.get("default") is None and name not in body:
                errors.append(FieldError(name, "required", f"{name} is required."))
        for name, rel in spec.relations.items():
            if rel["required"] and name not in body:
                errors.append(FieldError(name, "required", f"{name} is required."))
    if errors:
        raise ValidationError(errors)
    return clean_values


def _relation_value(spec: TableSpec, key: str, kind: str, raw: Any) -> tuple[Any, FieldError | None]:
    try:
        return _coerce(spec, key, kind, raw), None
    except values.ValueProblem as problem:
        return None, FieldError(key, problem.rule, f"{key} {problem}")


def _write(statement, spec: TableSpec) -> dict[str, Any] | None:
    try:
        with db.session.begin_nested():
            row = db.session.execute(statement.returning(spec.table)).mappings().first()
    except IntegrityError as exc:
        raise ValidationError(_integrity(exc)) from None
    except DataError as exc:
        raise ValidationError.single("body", "invalid", f"A value is not valid for its column: "
                                     f"{str(exc.orig).splitlines()[0]}") from None
    return serialise(dict(row)) if row is not None else None


def _integrity(exc: IntegrityError) -> list[FieldError]:
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    code = getattr(exc.orig, "sqlstate", "")
    if code == "23505":
        return [FieldError(constraint or "body", "unique", "Another row already has this value "
                           f"({(getattr(diag, 'message_detail', '') or '').strip()}).")]
    if code == "23503":
        return [FieldError(constraint or "body", "foreign_key", "The related row does not exist, or other rows "
                           "still refer to this one.")]
    return [FieldError("body", "constraint", str(exc.orig).splitlines()[0])]


def create_row(spec: TableSpec, body: Any) -> dict[str, Any]:
    """Insert a row from a JSON object; return it. ValidationError for any broken rule."""
    return _write(sa.insert(spec.table).values(**clean(spec, body, partial=False)), spec)


def update_row(spec: TableSpec, row_id: Any, body: Any) -> dict[str, Any]:
    """Change the given columns of a row; return it. NotFound or ValidationError."""
    changes = clean(spec, body, partial=True)
    statement = (sa.update(spec.table).where(spec.table.c.id == _id(row_id))
                 .values(**changes, updated_at=sa.func.now()))
    row = _write(statement, spec)
    if row is None:
        raise NotFound("no such row")
    return row


def delete_row(spec: TableSpec, row_id: Any) -> None:
    """Delete a row; NotFound, or ValidationError while other rows still refer to it."""
    if _write(sa.delete(spec.table).where(spec.table.c.id == _id(row_id)), spec) is None:
        raise NotFound("no such row")


def _link(spec: TableSpec, row_id: Any, name: str) -> tuple[dict[str, Any], str]:
    link = spec.links.get(name)
    if link is None:
        raise NotFound(f"{spec.name} has no ManyToMany relationship {name!r}")
    source = _id(row_id)
    if db.session.scalar(sa.select(spec.table.c.id).where(spec.table.c.id == source)) is None:
        raise NotFound("no such row")
    return link, source


def _target_id(link: dict[str, Any], raw: Any) -> Any:
    try:
        return _coerce(None, "", RELATION_TYPES.get(link["sql_type"], "String"), raw)
    except values.ValueProblem as problem:
        raise ValidationError.single("target_id", problem.rule, f"target_id {problem}.") from None


def list_links(spec: TableSpec, row_id: Any, name: str) -> list[Any]:
    """Return the target ids a row is linked to through a ManyToMany relationship; NotFound."""
    link, source = _link(spec, row_id, name)
    join = link["join"]
    query = sa.select(join.c.target_id).where(join.c.source_id == source).order_by(join.c.created_at, join.c.target_id)
    return [str(v) if link["sql_type"] == "uuid" else v for v in db.session.scalars(query)]


def add_link(spec: TableSpec, row_id: Any, name: str, target: Any) -> None:
    """Link a row to a target row (again: no change); NotFound, or ValidationError for an unknown target."""
    from sqlalchemy.dialects.postgresql import insert

    link, source = _link(spec, row_id, name)
    statement = insert(link["join"]).values(source_id=source, target_id=_target_id(link, target))
    try:
        with db.session.begin_nested():
            db.session.execute(statement.on_conflict_do_nothing())
    except (IntegrityError, DataError):
        raise ValidationError.single("target_id", "foreign_key", f"There is no {link['target']} row "
                                     f"with {link['column']} {target!r}.") from None


def remove_link(spec: TableSpec, row_id: Any, name: str, target: Any) -> None:
    """Remove a link; NotFound when the row or the link does not exist."""
    link, source = _link(spec, row_id, name)
    join = link["join"]
    try:
        target_id = _target_id(link, target)
    except ValidationError:
        raise NotFound("no such link") from None
    try:
        with db.session.begin_nested():
            done = db.session.execute(sa.delete(join).where(join.c.source_id == source,
                                                            join.c.target_id == target_id))
    except DataError:
        raise NotFound("no such link") from None
    if not done.rowcount:
        raise NotFound("no such link")
