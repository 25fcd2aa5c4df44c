"""Housekeeping proportional to due work: which tenants a periodic job needs to enter.

The periodic jobs (schedule tick, segment sweep, stream supervisor) used to enter every active
tenant on every run, so their cost grew with the number of tenants. Now each tenant's own
writes keep `public.housekeeping_due` current (triggers of tenant revision t0014_housekeeping),
and a job reads that one table to find the few tenants with something due:

- `schedule`: the earliest next run of an active report schedule (due once it has passed);
- `segments`: report runs pending or running, whose segments the sweep watches;
- `streams`: enabled streams, which the supervisor keeps consumed.

Thing-class summaries need no row here: a change queues its tenant's refresh job directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from strata.db import db, public_scope
from strata.tenancy.models import Tenant

log = logging.getLogger(__name__)

KINDS = ("schedule", "segments", "streams")


class HousekeepingDue(db.Model):
    """When a tenant schema next has work of one kind due (kept current by that tenant's triggers)."""

    __tablename__ = "housekeeping_due"
    __table_args__ = (
        CheckConstraint("kind IN ('schedule', 'segments', 'streams')", name="kind"),
        Index("ix_housekeeping_due_kind_due_at", "kind", "due_at"),
        {"schema": "public"},
    )

    schema_name: Mapped[str] = mapped_column(
        String(63), ForeignKey("public.tenants.schema_name", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def due_tenants(kind: str, now: datetime | None = None) -> list[Tenant]:
    """Return the active tenants with work of `kind` due at `now` (default: now), by slug."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of housekeeping {kind!r}")
    due = HousekeepingDue
    query = (select(Tenant).join(due, due.schema_name == Tenant.schema_name)
             .where(due.kind == kind, due.due_at <= (now or datetime.now(UTC)), Tenant.status == "active")
             .order_by(Tenant.slug))
    with public_scope():
        return list(db.session.scalars(query))


def each_due_tenant(kind: str, work: Callable[[], object]) -> dict[str, object]:
    """Run `work()` inside each tenant with `kind` due; return its result by slug ("error" if it raised).

    One tenant's failure is logged and does not stop the others.
    """
    from strata.tenancy.service import tenant_context

    tenants = due_tenants(kind)
    db.session.rollback()
    outcome: dict[str, object] = {}
    for tenant in tenants:
        try:
            with tenant_context(tenant.scope()):
                outcome[tenant.slug] = work()
        except Exception:  # noqa: BLE001 — logged; the next tenant still gets its turn
            log.exception("%s housekeeping failed for tenant %s", kind, tenant.slug)
            outcome[tenant.slug] = "error"
    return outcome
