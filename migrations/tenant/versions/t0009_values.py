"""Typed values: custom field values rewritten in the one stored form.

Decimals lose trailing zeros ("1.10" → 1.1) and date-times become UTC instants, so equal values
are equal text (the `unique` rule and equality filters compare them so). A date-time stored with
an offset PostgreSQL cannot read (beyond ±15:59, e.g. +20:00) is converted by its instant too, so
lists and exports that cast it work again. Uniqueness under concurrency is a transaction-scoped
advisory lock on the normalised value (business_objects.rules), so no index is added here.

Revision ID: t0009_values
Revises: t0008_stream_event_counts
Create Date: 2026-11-29
"""

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

revision = "t0009_values"
down_revision = "t0008_stream_event_counts"
branch_labels = None
depends_on = None


def _normal(field_type: str, text: str) -> str | None:
    """Return the stored form of a decimal or date-time value text (None when it is unreadable or already so)."""
    try:
        if field_type == "decimal":
            number = Decimal(text)
            out = "0" if number == 0 else format(number.normalize(), "f")
        else:
            moment = datetime.fromisoformat(json.loads(text))
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
            out = json.dumps(moment.isoformat())
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        return None
    return out if out != text else None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, field_type, field_value FROM business_object_extensions "
                                "WHERE field_type IN ('decimal', 'datetime') AND field_value IS NOT NULL"))
    changed = [{"id": row.id, "value": normal} for row in rows
               if (normal := _normal(row.field_type, row.field_value)) is not None]
    if changed:
        bind.execute(sa.text("UPDATE business_object_extensions SET field_value = :value WHERE id = :id"), changed)


def downgrade() -> None:
    pass  # the normalised forms are valid values of the old code: nothing to undo
