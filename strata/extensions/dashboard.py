"""The extensions card on the tenant dashboard."""

from __future__ import annotations

from sqlalchemy import func, select

from strata.db import db
from strata.extensions.models import ExtensionSchema
from strata.tenancy.dashboard import Card, register_card


@register_card
def _extensions_card() -> Card:
    count = db.session.scalar(select(func.count()).select_from(ExtensionSchema)
                              .where(ExtensionSchema.applied_definition.is_not(None)))
    return Card("Extensions", count, "extensions.index", "Installed extensions add their own tables and API.")
