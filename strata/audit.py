"""The tenant's audit log: who created, changed or deleted what, with old and new values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import db


class AuditLog(db.Model):
    """One change to one object in a tenant (tenant schema)."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("public.users.id", ondelete="SET NULL"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    summary: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def record(entity_type: str, entity_id: Any, action: str, user_id: int | None,
           changes: dict[str, Any] | None = None, summary: str = "") -> AuditLog:
    """Add an audit row to the current transaction and return it."""
    entry = AuditLog(entity_type=entity_type, entity_id=str(entity_id), action=action, user_id=user_id,
                     changes=changes or {}, summary=summary[:300])
    db.session.add(entry)
    return entry


def history(entity_type: str, entity_id: Any) -> list[AuditLog]:
    """Return the audit rows of one object, newest first."""
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())))


# Indexes and unique constraints the tenant migrations create, declared here too so that the models
# and the migrations agree (tests/core/test_model_drift.py).
Index("ix_audit_logs_created_at", AuditLog.created_at)
Index("ix_audit_logs_entity", AuditLog.entity_type, AuditLog.entity_id)
