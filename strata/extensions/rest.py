"""Rows of extension tables: PostgREST's query grammar, pages and counts, and validated writes.

Lists read filters (`column=[not.]op.value`, `or=(…)`, `and=(…)`), `order`, `select`, `limit`/`offset` and
the count mode through the platform's one parser (strata.filters); here each condition's value is checked
against the column's type before it reaches SQL. Every write is checked against the manifest's rules, so
bad input is a ValidationError (a filter error a FilterError), never a database error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

from strata import filters as flt
from strata.db import db
from strata.errors import FieldError, NotFound, ValidationError
from strata.extensions import values
from strata.extensions.runtime import TableSpec

OPERATORS = flt.OPERATORS
RESERVED_PARAMS = ("order", "limit", "offset", "select")
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
SYSTEM = {"id": "uuid", "created_at": "DateTime", "updated_at": "DateTime"}
RELATION_TYPES = {"uuid": "uuid", "integer": "Int", "bigint": "Int", "text": "String"}
TEXT_KINDS = ("String", "enum")
# The default order, served by the (created_at, id) index every generated table has.
DEFAULT_ORDER = (flt.OrderTerm("created_at"), flt.OrderTerm("id"))
Order = flt.OrderTerm


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int
    total_exact: bool = True


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


def _unknown(spec: TableSpec, column: str, field: str = "") -> flt.FilterError:
    return flt.FilterError(field or column, "unknown", f"column {spec.name}.{column} does not exist.", code="42703")


def _refuse(column: str, rule: str, message: str, code: str = "42883") -> flt.FilterError:
    return flt.FilterError(column, rule, f"{column}: {message}.", code=code, details=message)


def _value(spec: TableSpec, column: str, kind: str, raw: Any) -> Any:
    try:
        return _coerce(spec, column, kind, raw)
    except values.ValueProblem as problem:
        raise flt.FilterError(column, problem.rule, f'invalid input for {column} ({kind}): "{raw}" {problem}.',
                              code="22P02", details=str(problem)) from None


def _check(spec: TableSpec, node: flt.Node) -> flt.Node:
    """Return the node with every value coerced to its column's type; raise FilterError."""
    if isinstance(node, flt.Group):
        return flt.Group(node.op, tuple(_check(spec, item) for item in node.items), node.negate)
    column, op, raw = node.field, node.op, node.value
    kind = column_kind(spec, column)
    if kind is None:
        raise _unknown(spec, column)
    if op == "is":
        if raw is not None and kind != "Boolean":
            raise _refuse(column, "operator", "is.true, is.false and is.unknown apply to Boolean columns", "42804")
        return node
    if kind == "Json":
        raise _refuse(column, "operator", "Json columns can only be filtered with is.null")
    if op in ("like", "ilike", "contains"):
        if kind not in TEXT_KINDS:
            raise _refuse(column, "operator", f"{op} applies to text columns")
        return node
    if kind == "Boolean" and op not in ("eq", "neq", "in"):
        raise _refuse(column, "operator", "Boolean columns take eq, neq, in or is")
    if op == "in":
        return flt.Condition(column, op, tuple(_value(spec, column, kind, v) for v in raw), node.negate)
    return flt.Condition(column, op, _value(spec, column, kind, raw), node.negate)


def parse_filters(spec: TableSpec, args) -> list[flt.Node]:
    """Return the filters of query parameters (name, [values]) with typed values; raise FilterError."""
    nodes = flt.parse_filters(args, RESERVED_PARAMS, strict=True)
    checked, errors = [], []
    for node in nodes:
        try:
            checked.append(_check(spec, node))
        except flt.FilterError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationError([e.errors[0] for e in errors])
    return checked


def parse_order(spec: TableSpec, raw: str | None) -> list[flt.OrderTerm]:
    """Return the order in `order=a.desc.nullslast,b`; raise FilterError for unknown columns or modifiers."""
    terms = flt.parse_order(raw)
    for term in terms:
        if column_kind(spec, term.field) is None:
            raise _unknown(spec, term.field, "order")
        if term.field in spec.fields and spec.fields[term.field]["type"] == "Json":
            raise _refuse("order", "type", f"Json column {term.field!r} cannot be ordered by", "42883")
    return terms


def parse_select(spec: TableSpec, raw: str | None) -> list[tuple[str, str]] | None:
    """Return the (output name, column) pairs of `select=a,alias:b` (None: every column); FilterError."""
    chosen = flt.parse_select(raw)
    for _, column in chosen or ():
        if column_kind(spec, column) is None:
            raise _unknown(spec, column, "select")
    return chosen


def parse_page(limit: Any, offset: Any, range_header: str | None = None) -> tuple[int, int]:
    """Return (limit, offset) from parameters and a `Range: 0-24` header; FilterError when out of bounds."""
    return flt.parse_page(limit, offset, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT, range_header=range_header)


def _like(value: str) -> str:
    return value.replace("*", "%")


def _contains(value: str) -> str:
    return f"%{flt.escape_like(value)}%"


def _clause(table: sa.Table, node: flt.Node):
    """Return the SQL condition of a checked filter node."""
    if isinstance(node, flt.Group):
        parts = [_clause(table, item) for item in node.items]
        expression = sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
        return sa.not_(expression) if node.negate else expression
    column, op, value = table.c[node.field], node.op, node.value
    if op == "is":
        expression = column.is_(None) if value in (None, "unknown") else column.is_(value)
    elif op == "in":
        expression = column.in_(value) if value else sa.false()
    elif op in ("like", "ilike"):
        expression = getattr(column.cast(sa.Text), op)(_like(value))
    elif op == "contains":
        expression = column.cast(sa.Text).ilike(_contains(value))
    else:
        expression = {"eq": column.__eq__, "neq": column.__ne__, "lt": column.__lt__, "lte": column.__le__,
                      "gt": column.__gt__, "gte": column.__ge__}[op](value)
    return sa.not_(expression) if node.negate else expression


def _ordered(table: sa.Table, term: flt.OrderTerm):
    expression = table.c[term.field].desc() if term.desc else table.c[term.field].asc()
    if term.nulls:
        expression = expression.nulls_first() if term.nulls == "first" else expression.nulls_last()
    return expression


_BOUNDED, _PLANNED = "__strata_bounded", "__strata_planned"
_PG_CLASS = sa.table("pg_class", sa.column("oid"), sa.column("reltuples"), schema="pg_catalog")


def list_rows(spec: TableSpec, filters: list[flt.Node], order: list[flt.OrderTerm], limit: int, offset: int,
              count: bool | str = True, select: list[tuple[str, str]] | None = None) -> Page:
    """Return one page of rows matching every filter (projected to `select`) with its total.

    `count` is a mode of strata.filters.count (True: "estimated", exact up to a bound; False: "none"). The
    default order (created_at, id) is read from its index, so an unfiltered page costs the same on any size;
    an estimated count rides along the page query (the bounded count, and for an unfiltered page the
    table's row estimate), so a page is one round trip."""
    table = spec.table
    mode = "estimated" if count is True else "none" if count is False else count
    where = [_clause(table, node) for node in filters]
    rows = sa.select(table.c.id).where(*where)
    columns = [table.c[c].label(name) for name, c in select] if select else [table]
    extra = []
    if mode == "estimated":
        counted = rows.limit(flt.EXACT_BOUND + 1).subquery("counted")
        extra.append(sa.select(sa.func.count()).select_from(counted).scalar_subquery().label(_BOUNDED))
        if not where:
            extra.append(sa.select(sa.cast(_PG_CLASS.c.reltuples, sa.BigInteger))
                         .where(_PG_CLASS.c.oid == sa.func.to_regclass(table.name)).scalar_subquery().label(_PLANNED))
    query = sa.select(*columns, *extra).where(*where).order_by(*(_ordered(table, t) for t in order or DEFAULT_ORDER))
    found, known = [], {}
    for record in db.session.execute(query.limit(limit).offset(offset)).mappings() if limit else ():
        record = dict(record)
        known = {key: record.pop(key) for key in (_BOUNDED, _PLANNED) if key in record}
        found.append(serialise(record))
    if found and offset == 0 and len(found) < limit and mode != "none":
        total = flt.Total(len(found))  # the whole result is on this page
    elif known and known[_BOUNDED] <= flt.EXACT_BOUND:
        total = flt.Total(known[_BOUNDED])
    elif known:  # more than the bound: the table's estimate (unfiltered) or the planner's
        planned = known.get(_PLANNED)
        planned = planned if planned is not None and planned >= 0 else flt.planned_rows(rows)
        total = flt.Total(max(planned, known[_BOUNDED]), False)
    else:
        total = flt.count(rows, mode)
    return Page(found, total.value, limit, offset, total.exact)


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
