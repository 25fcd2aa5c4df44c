"""DataLoaders for the GraphQL schema: each batches the keys one level of a query asks for into one
statement (classes, attribute slots, thing counts, class relationships, related things)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from strata.db import db
from strata.things import query, schema
from strata.things.access import Actor
from strata.things.models import Attribute, AttributeAssignment, ThingClass
from strata.things.values import Slot, slot_of


@dataclass
class Context:
    """What every resolver sees: the actor and the request's DataLoaders."""

    actor: Actor
    loaders: dict[str, DataLoader] = field(default_factory=dict)

    def loader(self, name: str, load) -> DataLoader:
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=load)
        return self.loaders[name]


def classes_loader(actor: Actor):
    """Return the loader of classes by id (None for one the actor may not read)."""
    async def load(ids: list[int]) -> list[ThingClass | None]:
        found = {c.id: c for c in db.session.scalars(select(ThingClass).where(ThingClass.id.in_(ids)))}
        return [found.get(i) if found.get(i) is not None and actor.can("read", found[i]) else None for i in ids]
    return load


def slots_loader(actor: Actor):
    """Return the loader of each class's attribute slots."""
    async def load(ids: list[int]) -> list[list[Slot]]:
        rows = db.session.execute(
            select(AttributeAssignment, Attribute).join(Attribute, Attribute.id == AttributeAssignment.attribute_id)
            .where(AttributeAssignment.thing_class_id.in_(ids), AttributeAssignment.is_active)
            .order_by(AttributeAssignment.position, AttributeAssignment.id))
        out: dict[int, list[Slot]] = defaultdict(list)
        for assignment, attribute in rows:
            out[assignment.thing_class_id].append(slot_of(attribute, assignment))
        return [out[i] for i in ids]
    return load


def related_loader(actor: Actor):
    """Return the loader of related things by (thing id, label, direction)."""
    async def load(keys: list[tuple[int, str | None, str]]) -> list[list[query.Related]]:
        groups: dict[tuple[str | None, str], list[int]] = defaultdict(list)
        for thing_id, label, direction in keys:
            groups[(label, direction)].append(thing_id)
        found = {(label, direction): query.related(actor, ids, label=label, direction=direction)
                 for (label, direction), ids in groups.items()}
        return [found[(label, direction)].of(thing_id) for thing_id, label, direction in keys]
    return load


def counts_loader(actor: Actor):
    """Return the loader of each class's thing count from the summary view."""
    async def load(ids: list[int]) -> list[int]:
        rows = db.session.execute(select(query.SUMMARY.c.id, query.SUMMARY.c.thing_count)
                                  .where(query.SUMMARY.c.id.in_(ids)))
        counts = dict(rows.all())
        return [int(counts.get(i) or 0) for i in ids]
    return load


def links_loader(actor: Actor):
    """Return the loader of each class's relationships."""
    async def load(ids: list[int]) -> list[list[schema.Link]]:
        links = schema.class_links(actor, list(ids))
        return [links[i] for i in ids]
    return load


def first_things_loader(actor: Actor):
    """Return the loader of each class's first page of things by (class id, search, page size): one
    statement per distinct (search, page size), whatever the number of classes."""
    async def load(keys: list[tuple[int, str | None, int]]) -> list[query.Page]:
        groups: dict[tuple[str | None, int], list[int]] = defaultdict(list)
        for class_id, search, first in keys:
            groups[(search, first)].append(class_id)
        found = {(search, first): query.first_things(actor, ids, q=search, limit=first)
                 for (search, first), ids in groups.items()}
        return [found[(search, first)][class_id] for class_id, search, first in keys]
    return load
