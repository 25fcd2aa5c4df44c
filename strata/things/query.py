"""Reading things: class search by name prefix, thing lists filtered on attribute values with cursor
pages, and the links of many things at once (one statement for any number of things).

Filters are the platform's filter language (strata.filters: `attribute=gte.3`, `not.in.(a,b)`, `is.null`,
`or=(…)`, and the older `attribute=op:value`). Equality is a JSONB containment test (GIN index); ranges
compare numbers as numbers and dates as their ISO text; a thing without the attribute matches no comparison
(as a NULL column would not), so `neq` and `not.` leave it out too. A cursor is the opaque position after
the last row of a page.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Numeric,
    and_,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    not_,
    null,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.orm import aliased

from strata import filters as flt
from strata.db import db
from strata.errors import ValidationError
from strata.things.access import Actor, readable_clause
from strata.things.models import (
    BIGINT_MAX,
    ClassRelationship,
    RelationshipType,
    Thing,
    ThingClass,
    ThingLink,
    parse_id,
)
from strata.things.schema import ClassSchema
from strata.things.values import filter_value

OPERATORS = flt.FORM_OPERATORS  # what the list page's filter form offers
NULL_OPERATORS = ("is_null", "is_not_null")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
SCAN_WINDOW = 2000
# The materialized view of per-class counts (refreshed by workers.things after changes).
_THINGS, _CLASSES = Thing.__table__, ThingClass.__table__
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
SUMMARY = table("thing_class_summary", column("id", Integer), column("thing_count", BigInteger),
                column("attribute_count", BigInteger))


# One condition on an attribute's value (`field op value`, negated when `negate`).
Filter = flt.Condition


@dataclass
class Page:
    """One page of rows and the cursor of the next page (None at the end)."""

    rows: list[Any]
    next_cursor: str | None


def encode_cursor(*key: Any) -> str:
    """Return an opaque cursor for a sort key."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """Return the sort key in `cursor` (None for none); raise ValidationError for a bad one."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        # Every cursor here is (a name, an id): anything else is not one of ours.
        if isinstance(key, list) and len(key) == arity and isinstance(key[0], str) \
                and isinstance(key[1], int) and parse_id(key[1], BIGINT_MAX) is not None:
            return key
    except (ValueError, RecursionError):  # a crafted cursor may nest deeper than the JSON decoder recurses
        pass
    raise ValidationError.single("after", "cursor", "The page cursor is not valid; start from the first page.")


def clamp_limit(raw: Any) -> int:
    """Return a page size from 1 to MAX_LIMIT (DEFAULT_LIMIT when missing); raise ValidationError."""
    if raw in (None, ""):
        return DEFAULT_LIMIT
    if parse_id(raw, MAX_LIMIT) is None:
        raise ValidationError.single("limit", "range", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def _like_prefix(prefix: str) -> str:
    return flt.escape_like(prefix.lower()) + "%"


def search_classes(actor: Actor, prefix: str = "", *, limit: Any = None, after: str | None = None,
                   active_only: bool = False) -> Page:
    """Return readable classes whose name starts with `prefix` (any case), by name, with thing counts.

    Rows are (class row, thing count, attribute count); the class row is a Core row with a ThingClass's
    column attributes (no ORM entity to build per row)."""
    limit = clamp_limit(limit)
    classes = _CLASSES
    key = func.lower(classes.c.name).collate("C")
    stmt = (select(classes, SUMMARY.c.thing_count.label("_thing_count"),
                   SUMMARY.c.attribute_count.label("_attribute_count"))
            .outerjoin(SUMMARY, SUMMARY.c.id == classes.c.id)
            .where(readable_clause(actor.role, classes)).order_by(key, classes.c.id).limit(limit + 1))
    if prefix:
        # Backslash is PostgreSQL's default LIKE escape; no ESCAPE clause keeps the prefix a plain constant.
        stmt = stmt.where(key.like(_like_prefix(prefix)))
    if active_only:
        stmt = stmt.where(classes.c.is_active)
    position = decode_cursor(after, 2)
    if position:
        stmt = stmt.where(tuple_(key, classes.c.id) > tuple_(position[0], position[1]))
    rows = db.session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1].name.lower(), rows[-1].id) if more else None
    return Page([(row, row._thing_count, row._attribute_count) for row in rows], cursor)


def parse_filters(pairs: Iterable[tuple[str, str]], reserved: Iterable[str] = ()) -> list[flt.Node]:
    """Return filters from (name, text) pairs in the platform's filter language, skipping reserved names;
    raise ValidationError."""
    return flt.parse_filters(pairs, reserved)


def _condition(schema: ClassSchema, node: flt.Node, values=Thing.attribute_values, nested: bool = False):
    node = flt.canonical(node)
    if isinstance(node, flt.Group):
        parts = [_condition(schema, item, values, nested=True) for item in node.items]
        expression = and_(*parts) if node.op == "and" else or_(*parts)
        return not_(expression) if node.negate else expression
    name, op = node.field, node.op
    slot = schema.slot(name)
    if slot is None:
        raise ValidationError.single(name, "unknown_attribute",
                                     f"{name!r} is not an attribute of {schema.cls.name} to filter on.")
    has = values.has_key(name)
    if op == "is":
        if node.value in (True, False) and slot.data_type != "boolean":
            raise ValidationError.single(name, "filter", f"{slot.label}: is.true and is.false apply to yes/no "
                                                         "attributes.")
        found = not_(has) if node.value in (None, "unknown") else values.contains({name: node.value})
        return not_(found) if node.negate else found
    found = _compare(slot, name, op, node.value, values)
    if nested:  # inside and/or: unknown (NULL) without the attribute, as a NULL column compares
        found = case((has, found), else_=null())
        return not_(found) if node.negate else found
    return and_(has, not_(found)) if node.negate else found


def _compare(slot, name: str, op: str, value: Any, values):
    raw = values[name].astext
    if op in ("contains", "like", "ilike"):
        if not isinstance(value, str) or (op == "contains" and not value):
            raise ValidationError.single(name, "filter", f"Filter on {slot.label} needs some text to look for.")
        if op == "contains":
            return raw.ilike(f"%{flt.escape_like(value)}%", escape="\\")
        return getattr(raw, op)(value.replace("*", "%"))
    if op == "in":
        operands = [_operand(slot, name, v) for v in value]
        return or_(*(values.contains({name: o}) for o in operands)) if operands else false()
    operand = _operand(slot, name, value)
    if op == "eq":
        return values.contains({name: operand})
    if op == "neq":
        return and_(values.has_key(name), not_(values.contains({name: operand})))
    if slot.data_type in ("boolean", "enum"):
        raise ValidationError.single(name, "filter", f"{slot.label} can only be filtered with eq, neq, in or is.")
    if slot.data_type in ("integer", "decimal", "reference"):
        left, right = cast(raw, Numeric), cast(str(operand), Numeric)
    else:
        left, right = raw.collate("C"), operand
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _operand(slot, name: str, raw: Any) -> Any:
    if raw in ("", None):
        raise ValidationError.single(name, "filter", f"Filter on {name} needs a value, like {name}=eq.VALUE.")
    operand = filter_value(slot, raw)
    if operand is None:
        raise ValidationError.single(name, "filter", f"Filter on {slot.label} needs a value.")
    return operand


def _conditions(schema: ClassSchema, filters: list[flt.Node], values) -> list:
    conditions, errors = [], []
    for node in filters:
        try:
            conditions.append(_condition(schema, node, values))
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return conditions


@functools.cache
def _window(with_q: bool, with_position: bool):
    """Return the next SCAN_WINDOW live things of a class in name order, as a subquery built once per shape
    (a subquery built per call regenerates its column collection each time); values come as parameters."""
    things = _THINGS
    stmt = select(things).where(things.c.thing_class_id == bindparam("class_id"), not_(things.c.is_deleted))
    if with_q:
        stmt = stmt.where(things.c.name.ilike(bindparam("pattern", type_=things.c.name.type), escape="\\"))
    if with_position:
        stmt = stmt.where(tuple_(things.c.name, things.c.id) > tuple_(
            bindparam("after_name", type_=things.c.name.type), bindparam("after_id", type_=things.c.id.type)))
    return stmt.order_by(things.c.name, things.c.id).limit(SCAN_WINDOW).subquery("window")


def list_things(actor: Actor, schema: ClassSchema, filters: list[flt.Node] = (), *, q: str | None = None,
                limit: Any = None, after: str | None = None, deleted: bool = False) -> Page:
    """Return one page of the class's things (or its deleted ones), by name, filtered; NotFound if unreadable.

    With filters, the page is first looked for among the next SCAN_WINDOW things in name order (an index
    walk that stops as soon as the page is full: fast when many things match); only when that window
    holds too few matches does the query use the GIN index on the values (fast when few things match).
    """
    actor.require("read", schema.cls)
    limit = clamp_limit(limit)
    filtered = _conditions(schema, list(filters), _THINGS.c.attribute_values)
    # `NOT is_deleted` word for word: the predicate of the partial index that serves these pages.
    things = _THINGS
    live = things.c.is_deleted if deleted else not_(things.c.is_deleted)
    # Core rows (attribute access like a Thing's) rather than ORM entities: a list page only reads columns.
    stmt = select(things).where(things.c.thing_class_id == schema.cls.id, live)
    if q:
        escaped = flt.escape_like(q.strip())
        stmt = stmt.where(things.c.name.ilike(f"%{escaped}%", escape="\\"))
    position = decode_cursor(after, 2)
    if position:
        stmt = stmt.where(tuple_(things.c.name, things.c.id) > tuple_(position[0], position[1]))
    stmt = stmt.order_by(things.c.name, things.c.id)
    rows: list[Any] = []
    if filtered and not deleted:
        window, params = _window(bool(q), bool(position)), {"class_id": schema.cls.id}
        if q:
            params["pattern"] = f"%{escaped}%"
        if position:
            params["after_name"], params["after_id"] = position
        near = select(window).where(*_conditions(schema, list(filters), window.c.attribute_values))
        rows = db.session.execute(near.order_by(window.c.name, window.c.id).limit(limit + 1), params).all()
    if len(rows) <= limit:
        if filtered:
            # Once psycopg prepares this statement (5th run on a connection), PostgreSQL may switch to a
            # generic plan, planned blind to the class and the filter value (one class holds a fifth of the
            # things): bench/things.py measured it 16× slower than a plan for the actual values (30 ms
            # against 1.8 ms). Plan each run for its values.
            db.session.connection().exec_driver_sql(_CUSTOM_PLANS)
        rows = db.session.execute(stmt.where(*filtered).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].name, rows[-1].id) if more else None)


def first_things(actor: Actor, class_ids: list[int], *, q: str | None = None, limit: Any = None) -> dict[int, Page]:
    """Return the first page of live things (by name) of each readable class in `class_ids`: one statement,
    a LATERAL page per class that reads the class's name index and stops at the page size. A class the actor
    may not read, or one that does not exist, has an empty page."""
    limit = clamp_limit(limit)
    pages = {cid: Page([], None) for cid in class_ids}
    if not class_ids:
        return pages
    inner = select(Thing).where(Thing.thing_class_id == ThingClass.id, not_(Thing.is_deleted))
    if q:
        escaped = flt.escape_like(q.strip())
        inner = inner.where(Thing.name.ilike(f"%{escaped}%", escape="\\"))
    page = inner.order_by(Thing.name, Thing.id).limit(limit + 1).lateral("page")
    row = aliased(Thing, page)
    stmt = (select(row).select_from(ThingClass).join(page, true())
            .where(ThingClass.id.in_(list(class_ids)), readable_clause(actor.role))
            .order_by(row.thing_class_id, row.name, row.id))
    by_class: dict[int, list[Thing]] = {cid: [] for cid in class_ids}
    for thing in db.session.scalars(stmt):
        by_class[thing.thing_class_id].append(thing)
    for cid, rows in by_class.items():
        more = len(rows) > limit
        rows = rows[:limit]
        pages[cid] = Page(rows, encode_cursor(rows[-1].name, rows[-1].id) if more else None)
    return pages


# Built once: an alias per call would rebuild its columns and statement cache keys on every request.
_OTHER, _OTHER_CLASS = aliased(Thing, name="other"), aliased(ThingClass, name="other_class")


@dataclass
class Related:
    """One link seen from a thing: the relationship's label, the other thing and its class."""

    link_id: int
    rel_id: int
    label: str
    outgoing: bool
    other: Thing
    other_class: ThingClass
    is_bidirectional: bool = False


@dataclass
class RelatedMap:
    """The links of many things, by thing id."""

    by_thing: dict[int, list[Related]] = field(default_factory=dict)

    def of(self, thing_id: int) -> list[Related]:
        return self.by_thing.get(thing_id, [])


def related(actor: Actor, thing_ids: list[int], *, label: str | None = None,
            direction: str = "both") -> RelatedMap:
    """Return the live, readable things linked to each of `thing_ids`: outgoing links, and incoming ones of
    bidirectional relationships. Two statements (one per direction), whatever the number of things."""
    result = RelatedMap({tid: [] for tid in thing_ids})
    if not thing_ids:
        return result
    other, other_class = _OTHER, _OTHER_CLASS
    hidden = actor.hidden_class_ids()
    parts = []
    for outgoing in (True, False):
        if direction == ("in" if outgoing else "out"):
            continue
        mine, theirs = (ThingLink.from_thing_id, ThingLink.to_thing_id) if outgoing else \
            (ThingLink.to_thing_id, ThingLink.from_thing_id)
        name = RelationshipType.name if outgoing else RelationshipType.inverse_name
        stmt = (select(mine.label("thing_id"), ThingLink.id, ClassRelationship.id, name, other, other_class,
                       ClassRelationship.is_bidirectional)
                .join(ClassRelationship, ClassRelationship.id == ThingLink.class_relationship_id)
                .join(RelationshipType, RelationshipType.id == ClassRelationship.relationship_type_id)
                .join(other, other.id == theirs).join(other_class, other_class.id == other.thing_class_id)
                .where(mine.in_(thing_ids), other.is_deleted.is_(False)))
        if not outgoing:
            stmt = stmt.where(ClassRelationship.is_bidirectional)
        if hidden:
            stmt = stmt.where(other.thing_class_id.not_in(hidden))
        if label:
            stmt = stmt.where(name == label)
        parts.append((outgoing, stmt))
    for outgoing, stmt in parts:
        for thing_id, link_id, rel_id, rel_label, thing, cls, bidi in db.session.execute(stmt.order_by(other.name)):
            result.by_thing[thing_id].append(Related(link_id, rel_id, rel_label, outgoing, thing, cls, bidi))
    return result
