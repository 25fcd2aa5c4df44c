"""Typed values: normalised keys for unique custom fields and thing attributes.

Revision ID: t0009_values
Revises: t0008_stream_event_counts
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0009_values"
down_revision = "t0008_stream_event_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
