"""Extension registry: extension_schemas and extension_migrations (seed 003).

Revision ID: t0006_extensions
Revises: t0005_streams
Create Date: 2026-11-22
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0006_extensions"
down_revision = "t0005_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
