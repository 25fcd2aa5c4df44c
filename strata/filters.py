"""One filter language and one paging shape for every list: the JSON APIs, the list pages and the extension REST.

A filter is a query parameter `field=[not.]op.value` (PostgREST's grammar):

- `eq`, `neq`, `lt`, `lte`, `gt`, `gte` compare with the field's type; `like` and `ilike` match a pattern
  (`*` or `%` any run of characters); `contains` finds text anywhere, ignoring case;
- `in.(a,b,"c, d")` is one of a list (double quotes keep commas and parentheses, backslash escapes a quote);
  `in.()` is the empty list;
- `is.null`, `is.true`, `is.false`, `is.unknown`;
- `not.` before any operator negates it; `or=(a.eq.1,b.gt.2)` and `and=(…)` combine conditions, nest
  (`or=(a.eq.1,and(b.gt.2,c.is.null))`) and negate (`not.or=(…)`).

Older spellings (`field=op:value`, `in:a,b`, `ne`, `is_null`/`isnull`, `is_not_null`/`notnull`, a bare value
meaning `eq`) are read by the same parser into the same conditions. Values stay text here; each feature
turns them into its field's type. A page is `limit` + `offset` (or a `Range: 0-24` header) or a cursor;
totals are exact up to EXACT_BOUND rows and the planner's estimate beyond (`Total.exact` says which).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from strata.db import db
from strata.errors import FieldError, ValidationError

OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "like", "ilike", "contains", "in", "is")
COMPARISONS = ("eq", "neq", "lt", "lte", "gt", "gte")
IS_VALUES = {"null": None, "true": True, "false": False, "unknown": "unknown"}
LOGIC = ("or", "and", "not.or", "not.and")
# Older spellings, read into the same conditions: op:value, and bare null tests.
_LEGACY_OPS = {"eq": "eq", "neq": "neq", "ne": "neq", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte",
               "contains": "contains", "like": "like", "ilike": "ilike", "in": "in"}
_LEGACY_NULL = {"is_null": False, "isnull": False, "is_not_null": True, "notnull": True}
COUNT_MODES = ("exact", "planned", "estimated", "none")
EXACT_BOUND = 1000
MAX_DEPTH, MAX_CONDITIONS, MAX_ITEMS = 8, 100, 1000  # nesting of and/or, conditions in a tree, items in a list


class FilterError(ValidationError):
    """A filter, order or page parameter that cannot be read: a field and rule (422 on the core APIs) and
    PostgREST's code, message, details and hint (400, or 416 for a range, on the extension REST)."""

    def __init__(self, field: str, rule: str, message: str, *, code: str = "PGRST100", details: str | None = None,
                 hint: str | None = None, status: int = 400):
        super().__init__(FieldError(field, rule, message))
        self.code, self.details, self.hint, self.status = code, details, hint, status


@dataclass(frozen=True)
class Condition:
    """`field op value`: value is text, a tuple of texts for `in`, or None/True/False/"unknown" for `is`."""

    field: str
    op: str
    value: Any = None
    negate: bool = False


@dataclass(frozen=True)
class Group:
    """Conditions joined by `and` or `or` (items are Conditions or Groups), negated when `negate`."""

    op: str
    items: tuple[Condition | Group, ...]
    negate: bool = False


Node = Condition | Group


@dataclass(frozen=True)
class OrderTerm:
    """One key of `order=field.desc.nullslast`."""

    field: str
    desc: bool = False
    nulls: str | None = None  # "first" / "last" / None (the database's default)


@dataclass(frozen=True)
class Total:
    """The number of matching rows: exact, or the planner's estimate (`exact` False); None when not counted."""

    value: int | None
    exact: bool = True

    def text(self) -> str:
        """Return the total for people: "42", "about 52,000", or "" when not counted."""
        if self.value is None:
            return ""
        return f"{self.value:,}" if self.exact else f"about {self.value:,}"


def escape_like(text: str) -> str:
    """Return text matched literally inside a LIKE pattern (backslash, % and _ escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fields_of(nodes: Iterable[Node]) -> list[str]:
    """Return every field a filter tree names, in order of appearance."""
    out: list[str] = []
    for node in nodes:
        out.extend(fields_of(node.items) if isinstance(node, Group) else [node.field])
    return out


# --- parsing ------------------------------------------------------------------------------------------------------

def _fail(field: str, text: str, details: str, code: str = "PGRST100") -> FilterError:
    return FilterError(field, "filter", f"{field}={text[:80]}: {details}.", code=code,
                       details=details, hint=None)


class _Reader:
    """A cursor over one parameter's text, with PostgREST's value rules (quotes, lists, logic trees)."""

    def __init__(self, field: str, text: str):
        self.field, self.text, self.pos, self.depth, self.count = field, text, 0, 0, 0

    def fail(self, expected: str) -> FilterError:
        seen = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of input"
        return _fail(self.field, self.text, f"unexpected {seen} at column {self.pos + 1}, expecting {expected}")

    def spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.take(literal):
            raise self.fail(repr(literal))

    def quoted(self) -> str | None:
        """Return a double-quoted value followed by `,` `)` or the end (backslash escapes), else None (no move)."""
        if not self.text.startswith('"', self.pos):
            return None
        out, i = [], self.pos + 1
        while i < len(self.text) and self.text[i] != '"':
            if self.text[i] == "\\" and i + 1 < len(self.text):
                i += 1
            out.append(self.text[i])
            i += 1
        if i >= len(self.text) or (i + 1 < len(self.text) and self.text[i + 1] not in ",)"):
            return None
        self.pos = i + 1
        return "".join(out)

    def bare(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)":
            self.pos += 1
        return self.text[start:self.pos]

    def element(self) -> str:
        found = self.quoted()
        return found if found is not None else self.bare()

    def items(self) -> tuple[str, ...]:
        """Read `( a , "b" )`: PostgREST's list (unquoted items keep inner spaces; `()` is the empty list)."""
        self.expect("(")
        self.spaces()
        values = [self.element()]
        while self.take(","):
            values.append(self.element())
            if len(values) > MAX_ITEMS:
                raise _fail(self.field, self.text[:80], f"a list holds at most {MAX_ITEMS} items", code="PGRST100")
        self.expect(")")
        self.spaces()
        return () if values == [""] else tuple(values)

    def operation(self, nested: bool) -> tuple[str, Any, bool]:
        """Read `[not.]op.value`; return (op, value, negate)."""
        negate = self.take("not.")
        if self.take("in."):
            return "in", self.items(), negate
        if self.take("is."):
            match = re.match(r"(null|unknown|true|false)", self.text[self.pos:], re.IGNORECASE)
            if match is None:
                raise self.fail("null or trilean value (unknown, true, false)")
            self.pos += match.end()
            return "is", IS_VALUES[match[1].lower()], negate
        op, dot, _ = self.text[self.pos:].partition(".")
        if not dot or op not in OPERATORS:
            raise _fail(self.field, self.text, f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
        self.pos += len(op) + 1
        if not nested:
            value, self.pos = self.text[self.pos:], len(self.text)
        else:
            value = self.element()
        return op, value, negate

    def tree(self) -> Node:
        """Read one item of a logic tree: `[not.]and(…)`, `[not.]or(…)` or `field.[not.]op.value`."""
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise _fail(self.field, self.text[:80], f"a logic tree holds at most {MAX_CONDITIONS} conditions")
        match = re.match(r"(not\.)?(and|or)\s*\(", self.text[self.pos:])
        if match:
            if self.depth >= MAX_DEPTH:
                raise _fail(self.field, self.text[:80], f"and/or nest at most {MAX_DEPTH} levels deep")
            self.pos += len(match[0]) - 1
            self.depth += 1
            group = Group(match[2], self.group(), bool(match[1]))
            self.depth -= 1
            return group
        match = re.match(r"[\w$ -]+?(?=\.)", self.text[self.pos:])
        if match is None or not match[0].strip():
            raise self.fail("field name, negation operator (not) or logic operator (and, or)")
        self.pos += len(match[0]) + 1
        op, value, negate = self.operation(nested=True)
        self.spaces()
        return _condition(match[0].strip(), op, value, negate, self.text)

    def group(self) -> tuple[Node, ...]:
        self.expect("(")
        self.spaces()
        nodes = [self.tree()]
        while self.take(","):
            self.spaces()
            nodes.append(self.tree())
        self.expect(")")
        self.spaces()
        return tuple(nodes)

    def end(self) -> None:
        if self.pos != len(self.text):
            raise self.fail("end of input")


def _condition(field: str, op: str, value: Any, negate: bool, text: str) -> Condition:
    if op in ("like", "ilike") and isinstance(value, str):
        if (len(value) - len(value.rstrip("\\"))) % 2:
            raise _fail(field, text, "LIKE pattern must not end with escape character", code="22025")
    return Condition(field, op, value, negate)


def parse_condition(field: str, text: str, *, strict: bool = False) -> Condition:
    """Return the Condition of `field=text`; raise FilterError. `strict` refuses the older spellings (PostgREST)."""
    reader = _Reader(field, text)
    head = re.match(r"(not\.)?([a-z_]+)([.:])?", text)
    if head and head[3] == "." and head[2] in OPERATORS:
        op, value, negate = reader.operation(nested=False)
        reader.end()
        return _condition(field, op, value, negate, text)
    if strict:
        raise _fail(field, text, "use op.value, e.g. eq.42, in.(a,b), is.null, not.like.*x*")
    if text in _LEGACY_NULL:
        return Condition(field, "is", None, _LEGACY_NULL[text])
    if head and head[3] == ":" and not head[1] and not text[len(head[0]):].startswith("//"):
        op = _LEGACY_OPS.get(head[2])
        if op is None:
            raise FilterError(field, "operator", f"Unknown operator {head[2]!r} for {field}; use one of "
                                                 f"{', '.join(OPERATORS)} as {field}=op.value.")
        value = text[len(head[0]):]
        return _condition(field, op, tuple(value.split(",")) if op == "in" else value, False, text)
    return Condition(field, "eq", text)


# What a list page's "add filter" form offers; `expression` writes the choice as a parameter value.
FORM_OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "contains", "like", "in", "is_null", "is_not_null")


def expression(op: str, value: str) -> str:
    """Return the parameter value of a filter form's operator and value (`gte.10`, `in.(a,b)`, `not.is.null`)."""
    if op in _LEGACY_NULL:
        return "not.is.null" if _LEGACY_NULL[op] else "is.null"
    if op == "in":
        return f"in.({value})"
    return f"{op}.{value}"


def canonical(node: Node) -> Node:
    """Return a condition built in code with an older operator (ne, is_null, isnull, is_not_null, notnull) or a
    list or comma-separated `in` value in the canonical form; raise FilterError for an unknown operator."""
    if isinstance(node, Group):
        return Group(node.op, tuple(canonical(item) for item in node.items), node.negate)
    if node.op in _LEGACY_NULL:
        return Condition(node.field, "is", None, node.negate != _LEGACY_NULL[node.op])
    op, value = _LEGACY_OPS.get(node.op, node.op), node.value
    if op not in OPERATORS:
        raise FilterError(node.field, "operator", f"Unknown operator {node.op!r} for {node.field}; use one of "
                                                  f"{', '.join(OPERATORS)}.", details=f"unknown operator {node.op!r}")
    if op == "in":
        value = tuple(value.split(",")) if isinstance(value, str) else tuple(value or ())
    elif op == "is" and isinstance(value, str):
        value = IS_VALUES.get(value.lower(), value)
    return Condition(node.field, op, value, node.negate)


def parse_logic(key: str, text: str) -> Group:
    """Return the Group of `or=(…)`, `and=(…)`, `not.or=(…)` or `not.and=(…)`; raise FilterError."""
    reader = _Reader(key, text)
    negate = key.startswith("not.")
    try:
        items = reader.group()
        reader.end()
    except FilterError as exc:
        raise FilterError(key, "filter", f"{key}={text[:80]}: failed to parse logic tree ({exc.details}).",
                          details=exc.details, code=exc.code) from None
    return Group(key.removeprefix("not."), items, negate)


def parse_filters(pairs: Iterable[tuple[str, Any]], reserved: Iterable[str] = (), *,
                  strict: bool = False) -> list[Node]:
    """Return the filters of query parameters given as (name, value) or (name, [values]) pairs, skipping
    `reserved` names; raise ValidationError listing every parameter that does not parse."""
    reserved = set(reserved)
    nodes: list[Node] = []
    errors: list[FieldError] = []
    first: FilterError | None = None
    for name, raw in pairs:
        if name in reserved:
            continue
        for text in raw if isinstance(raw, list | tuple) else [raw]:
            try:
                nodes.append(parse_logic(name, text) if name in LOGIC else parse_condition(name, text, strict=strict))
            except FilterError as exc:
                errors.extend(exc.errors)
                first = first or exc
    if first is not None:
        if len(errors) == 1:
            raise first
        raise ValidationError(errors)
    return nodes


def parse_order(text: str | None) -> list[OrderTerm]:
    """Return the keys of `order=a.desc.nullslast,b` (or `-a,b`: a leading minus sorts descending)."""
    terms = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith(("-", "+")):
            terms.append(OrderTerm(part[1:].strip(), part.startswith("-")))
            continue
        name, *modifiers = part.split(".")
        if any(m not in ("asc", "desc", "nullsfirst", "nullslast") for m in modifiers) or len(modifiers) > 2:
            raise FilterError("order", "modifier", f"order={text}: modifiers are asc, desc, nullsfirst, nullslast.",
                              details=f"unexpected modifier in {part!r}")
        nulls = next((m[5:] for m in modifiers if m.startswith("nulls")), None)
        terms.append(OrderTerm(name.strip(), "desc" in modifiers, nulls))
    return terms


def parse_select(text: str | None) -> list[tuple[str, str]] | None:
    """Return the (output name, field) pairs of `select=a,alias:b` (None for all fields, `*` too)."""
    if text is None or not text.strip() or text.strip() == "*":
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        alias, colon, name = part.partition(":")
        if not colon:
            alias, name = part, part
        if "(" in part or not re.fullmatch(r"[\w$]+", name.strip()) or not re.fullmatch(r"[\w$ ]+", alias.strip()):
            raise FilterError("select", "select", f"select={text}: list field names, optionally alias:field "
                                                  "(no embedding, casts or JSON paths).",
                              details=f"unexpected {part!r}")
        out.append((alias.strip(), name.strip()))
    return out


# --- paging -------------------------------------------------------------------------------------------------------

def _whole(name: str, raw: Any, default: int) -> int:
    if raw in (None, ""):
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str) or not re.fullmatch(r"\s*-?\d{1,12}\s*", raw):
        raise FilterError(name, "type", f"{name} must be a whole number.", details=f"{name}={raw!s:.40}")
    return int(raw)


def parse_page(limit: Any, offset: Any, *, default_limit: int, max_limit: int, range_header: str | None = None,
               zero: bool = True) -> tuple[int, int]:
    """Return (limit, offset) from parameters and an optional `Range: first-last` header (the two intersect,
    as in PostgREST); FilterError naming the parameter when out of bounds (416 for a range that cannot be met)."""
    asked_limit = _whole("limit", limit, -1)
    start = _whole("offset", offset, 0)
    if asked_limit < -1 or (asked_limit == -1 and limit not in (None, "")):
        raise FilterError("limit", "range", "limit must be 0 or more.", code="PGRST103", status=416,
                          details="Limit should be greater than or equal to zero.")
    if asked_limit == 0 and not zero:
        raise FilterError("limit", "range", f"limit must be a whole number from 1 to {max_limit}.")
    if start < 0:
        raise FilterError("offset", "range", "offset must be 0 or more.")
    low, high = start, None if asked_limit == -1 else start + asked_limit - 1
    if range_header:
        match = re.fullmatch(r"\s*(?:items=)?(\d{1,12})-(\d{0,12})\s*", range_header)
        if match is None:
            raise FilterError("Range", "format", "Range must be first-last or first-, e.g. 0-24.",
                              details=f"Range: {range_header:.40}")
        first, last = int(match[1]), int(match[2]) if match[2] else None
        if last is not None and last < first:
            raise FilterError("Range", "range", "Range: the first item must not come after the last.",
                              code="PGRST103", status=416, details="The lower boundary must be lower than or "
                              "equal to the upper boundary in the Range header.")
        low = max(low, first)
        high = last if high is None else (high if last is None else min(high, last))
    size = default_limit if high is None else high - low + 1
    if high is not None and asked_limit != 0 and size <= 0:
        size = 0
    if size > max_limit:
        raise FilterError("limit", "range", f"limit must be between 0 and {max_limit}.",
                          details=f"at most {max_limit} rows per page")
    return max(size, 0), low


def count_mode(prefer: str | None, default: str = "estimated") -> tuple[str, bool]:
    """Return (mode, asked) from a `Prefer: count=exact|planned|estimated|none` header."""
    match = re.search(r"\bcount=(\w+)", prefer or "")
    if match is None or match[1] not in COUNT_MODES:
        return default, False
    return match[1], True


def planned_rows(rows: Select) -> int:
    """Return the planner's estimate of the rows `rows` returns (EXPLAIN, nothing run)."""
    connection = db.session.connection()
    compiled = rows.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def count(rows: Select, mode: str = "estimated", bound: int = EXACT_BOUND) -> Total:
    """Return how many rows `rows` yields: `exact`, `planned` (the planner's estimate), `estimated` (exact up
    to `bound`, the planner's estimate beyond, never below bound + 1) or `none`."""
    rows = rows.order_by(None)
    if mode == "none":
        return Total(None, False)
    if mode == "planned":
        return Total(planned_rows(rows), False)
    if mode == "exact":
        return Total(db.session.scalar(select(func.count()).select_from(rows.subquery("counted"))), True)
    found = db.session.scalar(select(func.count()).select_from(rows.limit(bound + 1).subquery("counted")))
    if found <= bound:
        return Total(found, True)
    return Total(max(planned_rows(rows), found), False)


def postgrest_error(exc: ValidationError) -> tuple[dict[str, Any], int]:
    """Return PostgREST's error body {code, message, details, hint} (with the {field, rule, message} list) and
    its status for a filter, order, select or page error."""
    first = exc.errors[0]
    if isinstance(exc, FilterError):
        code, details, hint, status = exc.code, exc.details, exc.hint, exc.status
    else:
        code = {"unknown": "42703", "type": "22P02", "range": "22003", "enum": "22P02"}.get(first.rule, "PGRST100")
        details, hint, status = None, None, 400
    message = "Requested range not satisfiable" if status == 416 else first.message
    return {"code": code, "message": message, "details": details, "hint": hint,
            "errors": [e.as_dict() for e in exc.errors]}, status
