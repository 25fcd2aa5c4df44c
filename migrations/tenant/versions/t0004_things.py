"""Thing classes, attributes, relationship types, things and their links (seed 001).

Revision ID: t0004_things
Revises: t0003_extension_sort_indexes
Create Date: 2026-11-22
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0004_things"
down_revision = "t0003_extension_sort_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
