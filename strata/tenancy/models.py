"""Platform-level tenant record (public schema)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import Scope, db

TENANT_STATUSES = ("active", "suspended")


class Tenant(db.Model):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(f"status IN {TENANT_STATUSES}", name="status"),
        {"schema": "public"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    db_role: Mapped[str] = mapped_column(String(63), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def scope(self, enforced: bool = True) -> Scope:
        """Return the scope that runs transactions as this tenant."""
        return Scope(self.id, self.slug, self.schema_name, self.db_role, enforced)

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"
