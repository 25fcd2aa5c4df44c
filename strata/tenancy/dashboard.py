"""What a tenant's dashboard shows: cards that features register, plus recent activity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, String, and_, cast, func, not_, or_, select

from strata.audit import AuditLog
from strata.db import db


@dataclass
class Card:
    """One dashboard tile: a title, a figure, a link and an empty-state hint."""

    title: str
    value: int | str | None
    endpoint: str | None = None
    hint: str = ""
    values: dict = field(default_factory=dict)


@dataclass
class Summary:
    cards: list[Card] = field(default_factory=list)
    activity: list[AuditLog] = field(default_factory=list)


_card_builders: list[Callable[[], Card | None]] = []


def register_card(builder: Callable[[], Card | None]) -> Callable[[], Card | None]:
    """Add a card builder; features call this at import so the dashboard shows them."""
    _card_builders.append(builder)
    return builder


def summary(member_role: str, activity_limit: int = 10) -> Summary:
    """Return the cards and latest audit entries of the current tenant that `member_role` may see."""
    cards = [card for card in (build() for build in _card_builders) if card is not None]
    statement = select(AuditLog).order_by(AuditLog.id.desc()).limit(activity_limit)
    hidden = _hidden_activity(member_role)
    if hidden is not None:
        statement = statement.where(not_(hidden))
    return Summary(cards, list(db.session.scalars(statement)))


def _hidden_activity(member_role: str) -> ColumnElement[bool] | None:
    """Audit entries about things, or thing classes, of classes `member_role` may not read (None: all readable)."""
    if member_role == "admin":
        return None
    from strata.things.access import readable_clause
    from strata.things.models import Thing, ThingClass

    hidden = select(ThingClass.id).where(not_(readable_clause(member_role)))
    return or_(
        and_(AuditLog.entity_type == "thing",
             AuditLog.entity_id.in_(select(cast(Thing.id, String)).where(Thing.thing_class_id.in_(hidden)))),
        and_(AuditLog.entity_type == "thing_class", AuditLog.entity_id.in_(
            select(cast(ThingClass.id, String)).where(not_(readable_clause(member_role))))))


@register_card
def _members_card() -> Card | None:
    from strata.accounts.models import Membership
    from strata.db import current_scope, public_scope

    scope = current_scope()
    if scope is None:
        return None
    with public_scope():
        count = db.session.scalar(
            select(func.count()).select_from(Membership).where(Membership.tenant_id == scope.tenant_id))
    return Card("Members", count, "tenancy.members", "People who can sign in to this tenant.")
