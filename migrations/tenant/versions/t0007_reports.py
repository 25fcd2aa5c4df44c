"""Report builder: workflows, collections, segments, schedules and the wizard's audit (seed 004).

Revision ID: t0007_reports
Revises: t0006_extensions
Create Date: 2026-11-22
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0007_reports"
down_revision = "t0006_extensions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
