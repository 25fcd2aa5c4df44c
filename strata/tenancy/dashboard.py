"""What a tenant's dashboard shows: cards that features register, plus recent activity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from strata.audit import AuditLog
from strata.db import db


@dataclass
class Card:
    """One dashboard tile: a title, a figure, a link and an empty-state hint."""

    title: str
    value: int | str | None
    endpoint: str | None = None
    hint: str = ""


@dataclass
class Summary:
    cards: list[Card] = field(default_factory=list)
    activity: list[AuditLog] = field(default_factory=list)


_card_builders: list[Callable[[], Card | None]] = []


def register_card(builder: Callable[[], Card | None]) -> Callable[[], Card | None]:
    """Add a card builder; features call this at import so the dashboard shows them."""
    _card_builders.append(builder)
    return builder


def summary(activity_limit: int = 10) -> Summary:
    """Return the cards and latest audit entries of the current tenant."""
    cards = [card for card in (build() for build in _card_builders) if card is not None]
    activity = list(db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(activity_limit)))
    return Summary(cards, activity)
