"""Reports: every attempt of every segment, retry policy, schedules by cron, notifications.

Revision ID: t0011_report_attempts
Revises: t0010_stream_resources
Create Date: 2026-11-29
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "t0011_report_attempts"
down_revision = "t0010_stream_resources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
