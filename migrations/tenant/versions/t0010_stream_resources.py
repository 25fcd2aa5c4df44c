"""Companies House resources from every stream: filings, officers, PSCs, statements, charges, insolvency, exemptions, disqualifications.

Revision ID: t0010_stream_resources
Revises: t0009_values
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0010_stream_resources"
down_revision = "t0009_values"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
