"""Housekeeping: a platform-wide index of due work, so periodic jobs enter only tenants with something due.

Revision ID: 0004_housekeeping
Revises: 0003_accounts
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_housekeeping"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
