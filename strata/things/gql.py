"""The GraphQL schema over thing classes and things: queries with filters, cursor pages and relationship
traversal, and mutations that create, change, delete and link things.

Resolvers call the same domain functions as the pages and the JSON API, with the same actor, so the
class permissions hold identically here. Nested lists load through DataLoaders: all things of one
level ask for their classes or links together, so a query costs a bounded number of statements
whatever the number of things. A query may nest at most MAX_DEPTH fields (see `DepthLimit`).
Execute with `execute(query, variables, operation_name, actor)`; it returns strawberry's result.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, ValidationRule
from strawberry.extensions import AddValidationRules, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter
from strawberry.scalars import JSON
from strawberry.types import Info

from strata import limits
from strata.errors import Forbidden, NotFound, ValidationError
from strata.things import query, schema, service
from strata.things.access import Actor
from strata.things.gql_loaders import (
    Context,
    classes_loader,
    counts_loader,
    first_things_loader,
    links_loader,
    related_loader,
    slots_loader,
)
from strata.things.models import Thing, ThingClass

MAX_DEPTH = 5
log = logging.getLogger(__name__)


def _ctx(info: Info) -> Context:
    return info.context


def _run(call, *args, **kwargs):
    """Call a domain function; turn its refusals into GraphQL errors with a code and the field errors."""
    try:
        return call(*args, **kwargs)
    except ValidationError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT",
                                                 "errors": [e.as_dict() for e in exc.errors]}) from None
    except NotFound:
        raise GraphQLError("Not found.", extensions={"code": "NOT_FOUND"}) from None
    except Forbidden as exc:
        raise GraphQLError(str(exc), extensions={"code": "FORBIDDEN"}) from None


# --- types --------------------------------------------------------------------------------------------------------

@strawberry.enum
class Direction(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AttributeDef:
    name: str
    label: str
    data_type: str
    required: bool
    enum_values: list[str]
    rules: JSON
    reference_class_id: strawberry.ID | None


@strawberry.type
class ClassLink:
    id: strawberry.ID
    label: str
    outgoing: bool
    cardinality: str
    min: int | None
    max: int | None
    bidirectional: bool
    other_class_id: strawberry.ID

    @strawberry.field
    async def other_class(self, info: Info) -> ThingClassNode | None:
        cls = await _ctx(info).loader("classes", classes_loader(_ctx(info).actor)).load(int(self.other_class_id))
        return ThingClassNode.of(cls) if cls else None


@strawberry.type
class ThingClassNode:
    id: strawberry.ID
    name: str
    description: str | None
    is_active: bool
    validation_rules: JSON
    permissions: JSON

    @classmethod
    def of(cls, row: ThingClass) -> ThingClassNode:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, description=row.description, is_active=row.is_active,
                   validation_rules=row.validation_rules or {}, permissions=row.permissions or {})

    @strawberry.field(description="Live things of this class, from the summary view (refreshed after changes).")
    async def thing_count(self, info: Info) -> int:
        return await _ctx(info).loader("counts", counts_loader(_ctx(info).actor)).load(int(self.id))

    @strawberry.field
    async def attributes(self, info: Info) -> list[AttributeDef]:
        slots = await _ctx(info).loader("slots", slots_loader(_ctx(info).actor)).load(int(self.id))
        return [AttributeDef(name=s.name, label=s.label, data_type=s.data_type, required=s.required,
                             enum_values=list(s.attribute.enum_values or []), rules=s.rules,
                             reference_class_id=s.attribute.reference_class_id) for s in slots]

    @strawberry.field
    async def relationships(self, info: Info) -> list[ClassLink]:
        links = await _ctx(info).loader("links", links_loader(_ctx(info).actor)).load(int(self.id))
        return [ClassLink(id=strawberry.ID(str(link.rel.id)), label=link.label, outgoing=link.outgoing,
                          cardinality=link.rel.kind, min=link.rel.cardinality_rules.get("min"),
                          max=link.rel.cardinality_rules.get("max"), bidirectional=link.rel.is_bidirectional,
                          other_class_id=strawberry.ID(str(link.other.id))) for link in links]

    @strawberry.field
    async def things(self, info: Info, filter: list[AttributeFilter] | None = None, search: str | None = None,
                     first: int = query.DEFAULT_LIMIT, after: str | None = None) -> ThingConnection:
        if filter or after:
            return _things(info, self.id, None, filter, search, first, after, False)
        # First pages of every class at this level load together (one statement, a LATERAL page per class).
        limit = _run(query.clamp_limit, first)
        page = await _ctx(info).loader("first_things", first_things_loader(_ctx(info).actor)).load(
            (int(self.id), search or None, limit))
        return _connection(page)


@strawberry.input
class AttributeFilter:
    attribute: str
    op: str = "eq"
    value: JSON | None = None


@strawberry.type
class ThingNode:
    id: strawberry.ID
    name: str
    class_id: strawberry.ID
    values: JSON
    is_deleted: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Thing) -> ThingNode:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, class_id=strawberry.ID(str(row.thing_class_id)),
                   values=row.attribute_values, is_deleted=row.is_deleted, created_at=row.created_at,
                   updated_at=row.updated_at)

    @strawberry.field
    def value(self, name: str) -> JSON | None:
        return self.values.get(name)

    @strawberry.field
    async def thing_class(self, info: Info) -> ThingClassNode | None:
        cls = await _ctx(info).loader("classes", classes_loader(_ctx(info).actor)).load(int(self.class_id))
        return ThingClassNode.of(cls) if cls else None

    @strawberry.field(description="Linked things: outgoing links, and incoming links of bidirectional relationships.")
    async def related(self, info: Info, label: str | None = None,
                      direction: Direction = Direction.BOTH) -> list[RelatedNode]:
        items = await _ctx(info).loader("related", related_loader(_ctx(info).actor)).load(
            (int(self.id), label, direction.value))
        return [RelatedNode(link_id=strawberry.ID(str(r.link_id)), label=r.label, outgoing=r.outgoing,
                            relationship_id=strawberry.ID(str(r.rel_id)), thing=ThingNode.of(r.other)) for r in items]


@strawberry.type
class RelatedNode:
    link_id: strawberry.ID
    relationship_id: strawberry.ID
    label: str
    outgoing: bool
    thing: ThingNode


@strawberry.type
class ThingEdge:
    cursor: str
    node: ThingNode


@strawberry.type
class ThingConnection:
    nodes: list[ThingNode]
    edges: list[ThingEdge]
    page_info: PageInfo


@strawberry.type
class ClassConnection:
    nodes: list[ThingClassNode]
    page_info: PageInfo


@strawberry.type
class LinkNode:
    id: strawberry.ID
    relationship_id: strawberry.ID
    from_id: strawberry.ID
    to_id: strawberry.ID


def _things(info: Info, class_id, class_name, filters, search, first, after, deleted) -> ThingConnection:
    actor = _ctx(info).actor

    def load():
        cls = schema.class_by_name(actor, class_name) if class_name else schema.get_class(actor, class_id)
        parsed = [query.Filter(f.attribute, f.op, None if f.value is None else str(f.value)) for f in filters or []]
        page = query.list_things(actor, schema.load_schema(actor, cls.id, links=False), parsed, q=search, limit=first,
                                 after=after, deleted=deleted)
        return page

    return _connection(_run(load))


def _connection(page: query.Page) -> ThingConnection:
    nodes = [ThingNode.of(row) for row in page.rows]
    edges = [ThingEdge(cursor=query.encode_cursor(row.name, row.id), node=node)
             for row, node in zip(page.rows, nodes, strict=True)]
    return ThingConnection(nodes=nodes, edges=edges, page_info=PageInfo(
        has_next_page=page.next_cursor is not None, end_cursor=edges[-1].cursor if edges else None))


# --- root types ---------------------------------------------------------------------------------------------------

@strawberry.type
class Query:
    @strawberry.field(description="Classes you may read whose name starts with `prefix` (any case), by name.")
    def classes(self, info: Info, prefix: str = "", first: int = query.DEFAULT_LIMIT,
                after: str | None = None) -> ClassConnection:
        page = _run(query.search_classes, _ctx(info).actor, prefix, limit=first, after=after)
        return ClassConnection(nodes=[ThingClassNode.of(cls) for cls, _, _ in page.rows],
                               page_info=PageInfo(has_next_page=page.next_cursor is not None,
                                                  end_cursor=page.next_cursor))

    @strawberry.field
    def thing_class(self, info: Info, id: strawberry.ID | None = None,
                    name: str | None = None) -> ThingClassNode | None:
        actor = _ctx(info).actor
        try:
            return ThingClassNode.of(schema.class_by_name(actor, name) if name else schema.get_class(actor, id))
        except NotFound:
            return None

    @strawberry.field(description="One page of a class's things, by name, filtered on attribute values.")
    def things(self, info: Info, class_id: strawberry.ID | None = None, class_name: str | None = None,
               filter: list[AttributeFilter] | None = None, search: str | None = None,
               first: int = query.DEFAULT_LIMIT, after: str | None = None, deleted: bool = False) -> ThingConnection:
        return _things(info, class_id, class_name, filter, search, first, after, deleted)

    @strawberry.field
    def thing(self, info: Info, id: strawberry.ID) -> ThingNode | None:
        try:
            return ThingNode.of(service.get_thing(_ctx(info).actor, id))
        except NotFound:
            return None


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_thing(self, info: Info, class_id: strawberry.ID, name: str, values: JSON | None = None) -> ThingNode:
        return ThingNode.of(_run(service.create_thing, _ctx(info).actor, class_id, name, values))

    @strawberry.mutation(description="Change the name and/or values; values merge, null clears one.")
    def update_thing(self, info: Info, id: strawberry.ID, name: str | None = None,
                     values: JSON | None = None) -> ThingNode:
        return ThingNode.of(_run(service.update_thing, _ctx(info).actor, id, name, values))

    @strawberry.mutation
    def delete_thing(self, info: Info, id: strawberry.ID) -> ThingNode:
        return ThingNode.of(_run(service.delete_thing, _ctx(info).actor, id))

    @strawberry.mutation
    def restore_thing(self, info: Info, id: strawberry.ID) -> ThingNode:
        return ThingNode.of(_run(service.restore_thing, _ctx(info).actor, id))

    @strawberry.mutation
    def link_things(self, info: Info, relationship_id: strawberry.ID, from_id: strawberry.ID,
                    to_id: strawberry.ID) -> LinkNode:
        made = _run(service.link, _ctx(info).actor, relationship_id, from_id, to_id)
        return LinkNode(id=strawberry.ID(str(made.id)), relationship_id=strawberry.ID(str(made.class_relationship_id)),
                        from_id=strawberry.ID(str(made.from_thing_id)), to_id=strawberry.ID(str(made.to_thing_id)))

    @strawberry.mutation
    def unlink_things(self, info: Info, link_id: strawberry.ID) -> bool:
        _run(service.unlink, _ctx(info).actor, link_id)
        return True


# --- depth limit and execution ------------------------------------------------------------------------------------

def _depth(node, fragments: dict, seen: frozenset = frozenset()) -> int:
    """Return how many fields deep a selection nests (a leaf field is 1)."""
    if isinstance(node, FragmentSpreadNode):
        name = node.name.value
        if name in seen or name not in fragments:
            return 0
        return _depth(fragments[name], fragments, seen | {name})
    selections = node.selection_set.selections if node.selection_set else []
    inner = max((_depth(s, fragments, seen) for s in selections), default=0)
    if isinstance(node, FieldNode):
        return 0 if node.name.value.startswith("__") else 1 + inner
    return inner if isinstance(node, InlineFragmentNode) or selections else 0


class DepthLimit(ValidationRule):
    """Refuse an operation whose fields nest deeper than MAX_DEPTH, naming its depth and the limit."""

    def enter_operation_definition(self, node, *_):
        fragments = {f.name.value: f for f in self.context.document.definitions
                     if f.kind == "fragment_definition"}
        depth = _depth(node, fragments)
        if depth > MAX_DEPTH:
            self.report_error(GraphQLError(
                f"This query nests fields {depth} levels deep; the limit is {MAX_DEPTH}. Ask for fewer nested "
                "fields, or follow the relationship in a second query.", [node], extensions={"code": "DEPTH_LIMIT"}))


class CostLimit(ValidationRule):
    """Refuse an operation whose estimated cost (`strata.limits.graphql_cost`) is over the per-request budget."""

    def enter_operation_definition(self, node, *_):
        cost = limits.graphql_cost(self.context.schema, self.context.document, node)
        if cost > limits.GRAPHQL_MAX_COST:
            self.report_error(GraphQLError(
                f"This query's estimated cost is over {limits.GRAPHQL_MAX_COST} fields resolved (each field counts "
                "once per item of the pages around it). Ask for smaller pages (first), fewer aliases or fewer "
                "nested fields.", [node], extensions={"code": "COST_LIMIT"}))


class _Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        for error in errors:
            if not (error.extensions or {}).get("code") and error.original_error is not None:
                log.error("GraphQL resolver failed", exc_info=error.original_error)


def _unexpected(error: GraphQLError) -> bool:
    """True for a resolver's crash (its message may hold internals); refusals carry a code and stay, and so do
    GraphQL's own errors about the request (a missing or mistyped variable)."""
    original = error.original_error
    return (original is not None and not isinstance(original, GraphQLError)
            and not (error.extensions or {}).get("code"))


SCHEMA = _Schema(query=Query, mutation=Mutation, extensions=[
    lambda: AddValidationRules([DepthLimit, CostLimit]),
    lambda: MaxTokensLimiter(max_token_count=limits.GRAPHQL_MAX_TOKENS),
    lambda: MaxAliasesLimiter(max_alias_count=limits.GRAPHQL_MAX_ALIASES),
    lambda: MaskErrors(should_mask_error=_unexpected,
                       error_message="Something went wrong on our side. It has been logged."),
])


def execute(document: str, variables: dict[str, Any] | None, operation_name: str | None, actor: Actor):
    """Run a GraphQL document as `actor`; return strawberry's ExecutionResult (data and errors)."""
    run = SCHEMA.execute(document, variable_values=variables, operation_name=operation_name,
                         context_value=Context(actor))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run)
    # This thread already runs an event loop (an async server or test harness): run ours on a helper
    # thread with this thread's context (app context, session, tenant scope) while this one waits.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, run).result()


def operation_names(document: str) -> list[str]:
    """Return the names of the operations in `document` ("anonymous" for unnamed ones); [] if it does not parse."""
    from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse

    try:
        parsed = parse(document, no_location=True, max_tokens=limits.GRAPHQL_MAX_TOKENS)
    except GraphQLSyntaxError:
        return []
    return [d.name.value if d.name else "anonymous" for d in parsed.definitions
            if isinstance(d, OperationDefinitionNode)]
