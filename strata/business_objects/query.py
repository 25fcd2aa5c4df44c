"""List companies, partners and products: search, typed filters and sorts on core and custom fields, pages.

A custom field's values live as JSON text in `business_object_extensions.field_value`, one row
per (entity, field). A page costs a constant three statements whatever its size: the page
rows (one join of the extension table per filtered or sorted custom field, LEFT for sort-only
or null tests, matched on (entity_type, entity_id, field_name, company_id) as the unique
constraint is), the total count (joining only the filtered fields) and the custom values
of the page's rows in one `IN` query. Values are compared as their declared type: each join
admits only rows whose `field_type` is the definition's, so a value stored under another type
reads as no value instead of failing the cast, and the typed expressions are exactly those of
the partial indexes of migration t0003 (numbers as ::numeric, dates as their "C"-collated JSON
text), which serve range filters and, via `_split_page`, a first sort key on such a field.
Field names are checked against the tenant's definitions and reach SQL only as bound
parameters; columns only as SQLAlchemy constructs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Numeric,
    Select,
    and_,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from strata import filters as flt
from strata.business_objects import cache
from strata.business_objects.fields import (
    NUMERIC_TYPES,
    FieldSpec,
    FieldValueError,
    coerce,
    deserialise,
    serialise,
    to_jsonable,
)
from strata.business_objects.models import BusinessObjectExtension
from strata.business_objects.service import KINDS, Kind, company_scope, kind_of
from strata.db import db
from strata.errors import FieldError, ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
OPERATORS = flt.OPERATORS
# The operators the list pages offer (`is_null` / `is_not_null` are the older spellings of is.null tests).
NULL_OPERATORS = ("is_null", "is_not_null")
_ORDERED = ("eq", "neq", "lt", "lte", "gt", "gte", "in", "is")
_TEXT = (*_ORDERED, "like", "ilike", "contains")
_ALLOWED = {
    "integer": _ORDERED, "decimal": _ORDERED, "date": _ORDERED, "datetime": _ORDERED,
    "boolean": ("eq", "neq", "in", "is"),
    "string": _TEXT, "text": _TEXT, "email": _TEXT, "url": _TEXT, "select": _TEXT,
    "multiselect": ("contains", "is"),
    "json": ("is",),
}
_UNSORTABLE = ("multiselect", "json")
# Custom field types with a typed value index (migration t0003): a sort on them reads it in order.
_INDEXED = ("integer", "decimal", "date")
# Core columns every kind has besides its editable fields, with the type they compare as.
_SYSTEM = (FieldSpec("id", "Id", "integer"), FieldSpec("created_at", "Created", "datetime"),
           FieldSpec("updated_at", "Updated", "datetime"))


# One condition (`field op value`, negated when `negate`); a Group joins several with and / or.
Filter = flt.Condition


@dataclass(frozen=True)
class Sort:
    """One sort key: a field name, descending when `desc`."""

    field: str
    desc: bool = False


@dataclass
class Page:
    """One page of objects, their custom values by object id, and the count of all matches."""

    rows: list[Any]
    custom: dict[int, dict[str, Any]]
    total: int
    limit: int
    offset: int
    entity_type: str = ""
    fields: list[FieldSpec] = field(default_factory=list)
    total_exact: bool = True

    @property
    def total_text(self) -> str:
        """Return the total for people: exact ("42") or the planner's estimate ("about 52,000")."""
        return flt.Total(self.total, self.total_exact).text()


@dataclass(frozen=True)
class Statements:
    """The SQL a list request runs: the page of rows and the matching rows' ids to count (both ready to execute)."""

    page: Select
    count: Select
    kind: Kind


def parse_sort(text: str | None) -> list[Sort]:
    """Return the sort keys of `"-employees,name"` (a leading minus sorts descending)."""
    keys = []
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            keys.append(Sort(part[1:].strip(), True) if part.startswith("-") else Sort(part.lstrip("+").strip()))
    return keys


def parse_filters(pairs, reserved: tuple[str, ...] = ()) -> list[flt.Node]:
    """Return the filters of query parameters given as (name, [values]) pairs, skipping `reserved` names
    (the platform's filter language, strata.filters); raise ValidationError."""
    return flt.parse_filters(pairs, reserved)


def parse_filter(name: str, text: str) -> flt.Node:
    """Return the filter of one query parameter (`name=gte.10`, `name=not.in.(a,b)`, `or=(…)`, or the older
    `name=op:value`); raise ValidationError."""
    return flt.parse_filters([(name, text)])[0]


def _fail(name: str, rule: str, message: str) -> FieldError:
    return FieldError(name, rule, message)


class _Builder:
    """Turns checked filters and sorts into the page and count statements of one kind."""

    def __init__(self, kind: Kind, specs: list[FieldSpec]):
        self.kind = kind
        self.model = kind.model
        self.core = {s.name: s for s in (*_SYSTEM, *kind.fields)}
        self.custom = {s.name: s for s in specs}
        self.errors: list[FieldError] = []
        self.aliases: dict[str, Any] = {}
        self.inner: set[str] = set()  # fields a value filter needs: joined INNER, the rest LEFT

    def spec(self, name: str, rule_context: str) -> FieldSpec | None:
        found = self.core.get(name) or self.custom.get(name)
        if found is None:
            self.errors.append(_fail(name, "unknown_field", f"{name!r} is not a field of a {self.kind.entity_type} "
                                                            f"that can be {rule_context}."))
        return found

    def alias(self, spec: FieldSpec, outer: bool):
        if spec.name not in self.aliases:
            self.aliases[spec.name] = aliased(BusinessObjectExtension, name=f"cf{len(self.aliases)}")
        if not outer:
            self.inner.add(spec.name)
        return self.aliases[spec.name]

    def typed(self, spec: FieldSpec, outer: bool):
        """Return the SQL expression of `spec`'s value as its declared type."""
        if not spec.is_custom:
            return getattr(self.model, spec.name)
        ext = self.alias(spec, outer)
        return _typed_value(ext, spec.field_type)

    def condition(self, node: flt.Node, outer: bool = False):
        """Return the SQL of a filter node (None when it is in error); fields inside and/or groups join LEFT."""
        try:
            node = flt.canonical(node)
        except ValidationError as exc:
            self.errors.extend(exc.errors)
            return None
        if isinstance(node, flt.Group):
            parts = [self.condition(item, outer=True) for item in node.items]
            if any(p is None for p in parts):
                return None
            expression = and_(*parts) if node.op == "and" else or_(*parts)
            return not_(expression) if node.negate else expression
        found = self.compare(node, outer)
        return None if found is None else not_(found) if node.negate else found

    def compare(self, cond: flt.Condition, outer: bool):
        spec = self.spec(cond.field, "filtered on")
        if spec is None:
            return None
        allowed = _ALLOWED.get(spec.field_type, ("is",))
        if cond.op not in allowed or (cond.op == "is" and cond.value in (True, False)
                                      and spec.field_type != "boolean"):
            self.errors.append(_fail(cond.field, "operator", f"{spec.label} cannot be filtered with {cond.op!r}; use "
                                                             f"one of {', '.join(allowed)}."))
            return None
        expr = self.typed(spec, outer=outer or cond.op == "is")
        if cond.op == "is":
            return expr.is_(None) if cond.value in (None, "unknown") else expr.is_(cond.value)
        if cond.op == "contains":
            return self.contains(spec, expr, cond.value)
        if cond.op in ("like", "ilike"):
            return getattr(expr, cond.op)(str(cond.value).replace("*", "%"))
        if cond.op == "in" and not cond.value:
            return false()
        values = self.coerced(spec, cond)
        if values is None:
            return None
        if cond.op == "in":
            return expr.in_(values)
        return _COMPARE[cond.op](expr, values[0])

    def contains(self, spec: FieldSpec, expr, raw: Any):
        if not isinstance(raw, str) or not raw.strip():
            self.errors.append(_fail(spec.name, "type", f"{spec.label} contains needs some text to look for."))
            return None
        if spec.field_type == "multiselect":
            return cast(expr, JSONB).contains(func.jsonb_build_array(raw.strip()))
        return expr.icontains(raw.strip(), autoescape=True)

    def coerced(self, spec: FieldSpec, cond: flt.Condition) -> list[Any] | None:
        raws = cond.value if isinstance(cond.value, list | tuple) else [cond.value]
        lookup = FieldSpec(spec.name, spec.label, spec.field_type)  # options do not limit a search
        if spec.field_type == "select":
            lookup = FieldSpec(spec.name, spec.label, "string")
        try:
            values = [coerce(lookup, raw) for raw in raws]
        except FieldValueError as exc:
            self.errors.append(exc.error)
            return None
        if not values or any(v is None for v in values):
            self.errors.append(_fail(spec.name, "required", f"{spec.label} {cond.op} needs a value "
                                                            "(use is.null to find empty ones)."))
            return None
        if spec.field_type in NUMERIC_TYPES and spec.is_custom:
            values = [_as_numeric(v) for v in values]
        if spec.field_type == "date" and spec.is_custom:
            values = [serialise("date", v) for v in values]  # compared as the stored JSON text
        return values

    def order(self, key: Sort):
        """Return (spec, typed expression, descending) of a sort key, or None (error noted)."""
        spec = self.spec(key.field, "sorted by")
        if spec is None:
            return None
        if spec.field_type in _UNSORTABLE:
            self.errors.append(_fail(key.field, "sort", f"{spec.label} ({spec.field_type}) cannot be sorted on."))
            return None
        return spec, self.typed(spec, outer=True), key.desc

    def joined(self, query: Select, names: set[str], inner: frozenset[str] = frozenset()) -> Select:
        """Join the extension rows of the custom fields `names` (INNER for value filters and `inner`)."""
        for name, ext in self.aliases.items():
            if name not in names:
                continue
            spec = self.custom[name]
            on = and_(ext.entity_type == self.kind.entity_type, ext.entity_id == self.model.id,
                      ext.field_name == spec.name, _stored_as(ext, spec.field_type),
                      ext.company_id.is_(None) if spec.company_id is None else ext.company_id == spec.company_id)
            query = query.join(ext, on, isouter=name not in self.inner and name not in inner)
        return query


def _ordered(expr, desc: bool, nulls_last: bool = True):
    clause = expr.desc() if desc else expr.asc()
    return clause.nulls_last() if nulls_last else clause


def _typed_value(ext, field_type: str):
    """Return the extension's value as SQL of `field_type`.

    No guard on the row's own field_type here: the join admits only rows of the definition's type
    (`_stored_as`), which is also the predicate of the partial indexes of migration
    t0003_extension_sort_indexes, and these expressions are those indexes' expressions.
    """
    value = ext.field_value
    if field_type in NUMERIC_TYPES:
        return cast(value, Numeric)
    if field_type == "boolean":
        return cast(value, Boolean)
    if field_type == "date":
        # The JSON text "YYYY-MM-DD" in byte order is date order (and indexable, unlike ::date).
        return value.collate("C")
    if field_type == "datetime":
        return cast(func.btrim(value, '"'), DateTime(timezone=True))
    if field_type in ("multiselect", "json"):
        return value
    # Text kinds: the JSON string, unescaped (->> of a one-element array built around it).
    return func.jsonb_build_array(cast(value, JSONB)).op("->>")(0)


def _stored_as(ext, field_type: str):
    """Return the join condition admitting only values stored as `field_type` (others read as no value)."""
    if field_type in NUMERIC_TYPES:
        return ext.field_type.in_(NUMERIC_TYPES)
    return ext.field_type == field_type


def _as_numeric(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


_COMPARE = {
    "eq": lambda e, v: e == v, "neq": lambda e, v: e != v, "lt": lambda e, v: e < v,
    "lte": lambda e, v: e <= v, "gt": lambda e, v: e > v, "gte": lambda e, v: e >= v,
}


def _page_bounds(limit: Any, offset: Any) -> tuple[int, int, list[FieldError]]:
    errors = []
    try:
        limit = DEFAULT_LIMIT if limit in (None, "") else int(limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(_fail("limit", "range", f"Limit must be a whole number from 1 to {MAX_LIMIT}."))
        limit = DEFAULT_LIMIT
    try:
        offset = 0 if offset in (None, "") else int(offset)
        if offset < 0:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(_fail("offset", "range", "Offset must be a whole number, 0 or more."))
        offset = 0
    return limit, offset, errors


def build(entity_type: str, *, q: str | None = None, filters: list[flt.Node] = (), sort: list[Sort] = (),
          limit: Any = None, offset: Any = None, company_id: int | None = None) -> tuple[Statements, int, int]:
    """Return the page and count statements of a list request with its limit and offset; raise ValidationError.

    `company_id` (partners) lists one company's partners and lets its company-only fields be used.
    """
    kind = kind_of(entity_type)
    specs = cache.current().fields_for(entity_type, company_id if entity_type == "partner" else None)
    builder = _Builder(kind, specs)
    limit, offset, errors = _page_bounds(limit, offset)
    builder.errors.extend(errors)
    conditions = [c for c in (builder.condition(f) for f in filters) if c is not None]
    filtered = set(builder.aliases)
    orders = [o for o in (builder.order(s) for s in sort) if o is not None]
    if builder.errors:
        raise ValidationError(builder.errors)
    model = kind.model
    if q is not None and q.strip():
        conditions.append(model.name.icontains(q.strip(), autoescape=True))
    if company_id is not None and entity_type == "partner":
        conditions.append(model.company_id == company_id)
    id_desc = bool(sort) and sort[-1].desc
    tiebreak = model.id.desc() if id_desc else model.id
    first = orders[0] if orders else None
    if first is not None and first[0].is_custom and first[0].name not in builder.inner \
            and first[0].field_type in _INDEXED:
        page = _split_page(builder, conditions, orders, id_desc, limit, offset)
    else:
        page = builder.joined(select(model), set(builder.aliases)).where(*conditions)
        page = page.order_by(*(_ordered(e, d) for _, e, d in orders), tiebreak).limit(limit).offset(offset)
    count = builder.joined(select(model.id), filtered).where(*conditions)
    return Statements(page, count, kind), limit, offset


def _split_page(builder: _Builder, conditions: list, orders: list, id_desc: bool, limit: int, offset: int) -> Select:
    """Return the page statement when the first sort key is a custom field some rows may lack.

    Sorted on a LEFT-joined value, PostgreSQL must read, join and sort every row to put the ones
    without a value last. Instead the objects that have a value are read in the order of the
    first key's typed index (t0003; the branch joins it INNER, `IS NOT NULL`, so the index order
    fits), at most offset + limit of them; the objects without one are read only when those fall
    short (a one-time filter on the first branch's count). The two, at most 2 × (offset + limit)
    ids with their sort values, are then ordered as the plain query would be (values first, nulls
    last) and the page's rows joined to them: the same rows in the same order, one statement.
    """
    model = builder.model
    tiebreak = model.id.desc() if id_desc else model.id
    spec, first, desc = orders[0]
    needed = offset + limit
    columns = [e.label(f"k{i}") for i, (_, e, _d) in enumerate(orders)]
    rest = [_ordered(e, d) for _, e, d in orders[1:]]
    names = set(builder.aliases)
    present = (builder.joined(select(model.id.label("id"), *columns), names, inner=frozenset({spec.name}))
               .where(*conditions, first.is_not(None))
               .order_by(_ordered(first, desc, nulls_last=False), *rest, tiebreak).limit(needed)
               .cte("present"))
    short = select(func.count()).select_from(present).scalar_subquery() < needed
    absent = (builder.joined(select(model.id.label("id"), *columns), names)
              .where(*conditions, first.is_(None), short)
              .order_by(*rest, tiebreak).limit(needed))
    both = union_all(select(present.c.id, *(present.c[c.name] for c in columns), literal(0).label("part")),
                     select(absent.subquery("absent_rows")).add_columns(literal(1).label("part"))).subquery("ordered")
    keys = [_ordered(both.c[f"k{i}"], d) for i, (_, _e, d) in enumerate(orders)]
    order_id = both.c.id.desc() if id_desc else both.c.id.asc()
    return (select(model).join(both, both.c.id == model.id)
            .order_by(both.c.part, *keys, order_id).limit(limit).offset(offset))


def values_statement(entity_type: str, ids: list[int]) -> Select:
    """Return the one query that reads every custom value of the objects `ids`."""
    ext = BusinessObjectExtension
    return select(ext.entity_id, ext.field_name, ext.company_id, ext.field_type, ext.field_value).where(
        ext.entity_type == entity_type, ext.entity_id.in_(ids))


def custom_values_of(entity_type: str, rows: list[Any]) -> dict[int, dict[str, Any]]:
    """Return {object id: {field: typed value}} for `rows`, in one query, keeping only fields that apply."""
    out: dict[int, dict[str, Any]] = {row.id: {} for row in rows}
    if not rows:
        return out
    config = cache.current()
    applicable = {row.id: {s.name: s for s in config.fields_for(entity_type, company_scope(entity_type, row))}
                  for row in rows}
    for entity_id, name, company_id, field_type, text in db.session.execute(values_statement(entity_type, list(out))):
        spec = applicable[entity_id].get(name)
        if spec is None or spec.company_id != company_id or field_type != spec.field_type:
            continue
        out[entity_id][name] = deserialise(spec.field_type, text)
    return out


def list_objects(entity_type: str, *, q: str | None = None, filters: list[flt.Node] = (), sort: list[Sort] = (),
                 limit: Any = None, offset: Any = None, company_id: int | None = None,
                 count: str = "estimated") -> Page:
    """Return one Page of `entity_type` matching `q` and `filters` in `sort` order; raise ValidationError.

    The total is exact up to strata.filters.EXACT_BOUND matches and the planner's estimate beyond (`count`
    "exact" always counts; a page that holds every match needs no count at all)."""
    statements, limit, offset = build(entity_type, q=q, filters=filters, sort=sort, limit=limit, offset=offset,
                                      company_id=company_id)
    rows = list(db.session.scalars(statements.page))
    if rows and offset == 0 and len(rows) < limit:
        total = flt.Total(len(rows))
    else:
        total = flt.count(statements.count, count)
    return Page(rows, custom_values_of(entity_type, rows), total.value, limit, offset, entity_type,
                total_exact=total.exact)


def as_dict(entity_type: str, obj: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Return an object with its custom values as JSON-ready data."""
    kind = KINDS[entity_type]
    data = {"id": obj.id}
    for spec in kind.fields:
        data[spec.name] = to_jsonable(getattr(obj, spec.name))
    data["framework_version"] = obj.framework_version
    data["created_by"] = obj.created_by
    data["created_at"] = to_jsonable(obj.created_at)
    data["updated_at"] = to_jsonable(obj.updated_at)
    data["custom_fields"] = to_jsonable(custom)
    return data

