"""Limits at the edge: how big, how deep and how large the input of one request may be.

Every request body, JSON document and YAML text is measured here before a feature reads it,
so no input can make the server recurse, loop or allocate without bound:

| limit | value | answer |
|---|---|---|
| request body (CSV uploads included) | `MAX_CONTENT_LENGTH`, 11 MB | 413 |
| JSON body | `MAX_JSON_BYTES`, 1 MB | 413 |
| JSON nesting | `MAX_DEPTH`, 32 levels | 422 `depth` |
| members of one JSON object or array | `MAX_WIDTH`, 10,000 | 422 `width` |
| a JSON or YAML number | a bigint (±2⁶³−1), finite | 422 `range` / `finite` |
| YAML text (manifests) | `MAX_YAML_BYTES`, 256 kB, no aliases | 422 `size` / `alias` |
| a paging parameter (`page`, `offset`, `limit`…) | 0 … 2⁶³−1 | 422 `range` |

Walks are iterative (an explicit stack), never recursive. Errors are `ValidationError`s
whose field is the JSON path of the value (`tables[0].fields`), or `body` for the whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import yaml

from strata.errors import FieldError, ValidationError

MAX_JSON_BYTES = 1024 * 1024
MAX_YAML_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_WIDTH = 10_000
MAX_NODES = 200_000
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
PAGING = ("page", "offset", "limit", "per_page", "page_size", "first")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def walk(data: Any, root: str = "") -> Iterator[tuple[str, int, Any]]:
    """Yield (path, depth, value) for `data` and everything inside it, iteratively; keys come as values too."""
    stack: list[tuple[str, int, Any]] = [(root, 0, data)]
    while stack:
        path, depth, value = stack.pop()
        yield path, depth, value
        if isinstance(value, dict):
            for key, item in value.items():
                yield _join(path, key), depth + 1, key
                stack.append((_join(path, key), depth + 1, item))
        elif isinstance(value, list):
            stack.extend((_join(path, i), depth + 1, item) for i, item in enumerate(value))


def _storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def problem(path: str, depth: int, value: Any) -> FieldError | None:
    """Return what is wrong with one value found at `path` (too deep, too wide, unstorable), or None."""
    name = path or "body"
    if depth > MAX_DEPTH:
        return FieldError(name, "depth", f"{name} nests deeper than {MAX_DEPTH} levels.")
    if isinstance(value, (dict, list)) and len(value) > MAX_WIDTH:
        return FieldError(name, "width", f"{name} has {len(value)} members; the limit is {MAX_WIDTH}.")
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return FieldError(name, "finite", f"{name} must be a finite number.")
    if isinstance(value, int) and abs(value) > BIGINT_MAX:
        return FieldError(name, "range", f"{name} must be between {-BIGINT_MAX} and {BIGINT_MAX}.")
    if isinstance(value, str) and not _storable_text(value):
        return FieldError(name, "text", f"{name} must not contain NUL characters or invalid Unicode.")
    return None


def check(data: Any, root: str = "") -> Any:
    """Return `data` when it is within the limits; raise ValidationError naming the first value that is not."""
    for count, (path, depth, value) in enumerate(walk(data, root)):
        if count > MAX_NODES:
            name = root or "body"
            raise ValidationError.single(name, "size", f"{name} holds more than {MAX_NODES} values.")
        found = problem(path, depth, value)
        if found is not None:
            raise ValidationError(found)
    return data


def load_json(text: str | bytes, field: str = "body") -> Any:
    """Return the JSON in `text`, checked by `check`; raise ValidationError when it is not JSON or too big."""
    if len(text) > MAX_JSON_BYTES:
        raise ValidationError.single(field, "size", f"{field} is larger than {MAX_JSON_BYTES // 1024} kB.")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValidationError.single(field, "depth", f"{field} nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError:
        raise ValidationError.single(field, "syntax", f"{field} is not valid JSON.") from None
    return check(data, "" if field == "body" else field)


def _yaml_events(text: str, field: str) -> None:
    """Refuse aliases and deep nesting from the event stream, before anything is built from it."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise ValidationError.single(field, "alias", f"{field} must not use YAML aliases (*name).")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ValidationError.single(field, "depth", f"{field} nests deeper than {MAX_DEPTH} levels.")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, field: str = "manifest") -> Any:
    """Return the data of YAML `text` (no aliases, at most MAX_YAML_BYTES, numbers in range); ValidationError if not.

    A YAMLError is left to the caller, who knows how to name the line.
    """
    if len(text) > MAX_YAML_BYTES:
        raise ValidationError.single(field, "size", f"{field} is larger than {MAX_YAML_BYTES // 1024} kB.")
    _yaml_events(text, field)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader, aliases refused above
    except (ValueError, OverflowError):
        # int() refuses numbers of more than 4,300 digits
        raise ValidationError.single(field, "range", f"{field} holds a number beyond {BIGINT_MAX}.") from None
    except RecursionError:
        raise ValidationError.single(field, "depth", f"{field} nests deeper than {MAX_DEPTH} levels.") from None
    return data


def bounded_int(value: Any, field: str, low: int = 0, high: int = BIGINT_MAX) -> int:
    """Return `value` as a whole number in [low, high]; raise ValidationError naming `field` otherwise."""
    text = str(value).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValidationError.single(field, "integer", f"{field} must be a whole number.")
    number = int(text) if len(digits) <= 20 else BIGINT_MAX + 1
    if text.startswith("-"):
        number = -abs(number)
    if not low <= number <= high:
        raise ValidationError.single(field, "range", f"{field} must be between {low} and {high}.")
    return number


def check_paging(args: Any) -> None:
    """Raise ValidationError when a paging parameter in `args` is a whole number beyond what a bigint holds."""
    for name in PAGING:
        for value in args.getlist(name):
            text = value.strip().lstrip("+-")
            if text.isascii() and text.isdigit():
                bounded_int(value, name, -BIGINT_MAX, BIGINT_MAX)


# --- GraphQL cost -------------------------------------------------------------------------------------------------
# A document is refused before it runs when it is too long (GRAPHQL_MAX_CHARS, checked before parsing), has too
# many tokens or aliases (strawberry's MaxTokensLimiter and MaxAliasesLimiter), or when its estimated cost is over
# GRAPHQL_MAX_COST: every field costs 1 for each time it may be resolved, where a field with a `first` argument
# multiplies what it contains by that page size (its default when not given) and any other list by LIST_GUESS.

GRAPHQL_MAX_CHARS = 20_000
GRAPHQL_MAX_TOKENS = 5_000
GRAPHQL_MAX_ALIASES = 50
GRAPHQL_MAX_COST = 10_000
LIST_GUESS = 10


def _page_size(node: Any, field: Any, paged: bool) -> int:
    """How many items one resolution of `field` may return: its `first` argument, its default, or a guess
    (1 for the list of a page whose size was counted on the field above it, `paged`)."""
    from graphql import IntValueNode, get_nullable_type, is_list_type

    given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
    if isinstance(given, IntValueNode):
        return int(given.value) if len(given.value) < 7 else 10**6
    if field is not None and "first" in field.args:
        default = field.args["first"].default_value
        return default if isinstance(default, int) else LIST_GUESS * 20
    if field is not None and not paged and is_list_type(get_nullable_type(field.type)):
        return LIST_GUESS
    return 1


def graphql_cost(schema: Any, document: Any, operation: Any, stop_at: int = GRAPHQL_MAX_COST) -> int:
    """Return the estimated cost of `operation` in `document` (see above), stopping early once over `stop_at`."""
    from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, get_named_type

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    stack = [(operation.selection_set, schema.get_root_type(operation.operation), 1, frozenset(), False)]
    cost = steps = 0
    while stack and cost <= stop_at:
        selections, parent, times, seen, paged = stack.pop()
        steps += 1
        if selections is None or parent is None or steps > 100_000:
            cost += 0 if steps <= 100_000 else stop_at + 1
            continue
        for node in selections.selections:
            if isinstance(node, FieldNode):
                cost += times
                field = getattr(parent, "fields", {}).get(node.name.value)
                if node.selection_set is not None and field is not None:
                    stack.append((node.selection_set, get_named_type(field.type),
                                  times * _page_size(node, field, paged), seen, "first" in field.args))
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments.get(node.name.value)
                if fragment is not None and fragment.name.value not in seen:
                    stack.append((fragment.selection_set, schema.get_type(fragment.type_condition.name.value),
                                  times, seen | {fragment.name.value}, paged))
            else:  # an inline fragment
                condition = node.type_condition
                stack.append((node.selection_set, schema.get_type(condition.name.value) if condition else parent,
                              times, seen, paged))
    return cost
