"""The per-class counts (`thing_class_summary`, a materialized view) and the admin metrics views.

Writes that change the counts call `changed()`, which asks for one refresh job per tenant: a Redis
key marks a refresh as pending, so a burst of writes queues one job, not one per write. The job
refreshes the view CONCURRENTLY, so readers keep the old counts until the new ones are ready.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from strata.db import current_scope, db

PENDING_KEY = "things:summary:pending:{tenant_id}"
PENDING_TTL = 300
_CHANGED = "things_summary_changed"


def refresh() -> float:
    """Refresh the summary view of the current tenant concurrently; return the seconds it took."""
    started = time.perf_counter()
    db.session.execute(text("REFRESH MATERIALIZED VIEW CONCURRENTLY thing_class_summary"))
    return time.perf_counter() - started


def changed() -> None:
    """Ask for a summary refresh of the current tenant once this transaction commits."""
    scope = current_scope()
    if scope is not None:
        db.session.info.setdefault(_CHANGED, set()).add(scope.tenant_id)


@event.listens_for(Session, "after_commit")
def _enqueue_refresh(session: Session) -> None:
    tenants = session.info.pop(_CHANGED, None)
    if not tenants:
        return
    from strata import jobs
    from strata.core import queues

    for tenant_id in tenants:
        if queues.connection.set(PENDING_KEY.format(tenant_id=tenant_id), "1", nx=True, ex=PENDING_TTL):
            jobs.enqueue("things.refresh_summary", tenant_id)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def clear_pending(tenant_id: int) -> None:
    """Forget the pending mark, so writes from now on queue the next refresh."""
    from strata.core import queues

    queues.connection.delete(PENDING_KEY.format(tenant_id=tenant_id))


def class_metrics() -> list[dict[str, Any]]:
    """Return the rows of `thing_class_metrics`, busiest classes first (at most 200)."""
    rows = db.session.execute(text("SELECT * FROM thing_class_metrics ORDER BY instance_count DESC, name LIMIT 200"))
    return [dict(row._mapping) for row in rows]


def storage_metrics() -> list[dict[str, Any]]:
    """Return the rows of `schema_storage_metrics` for the current tenant's schema."""
    return [dict(row._mapping) for row in db.session.execute(text("SELECT * FROM schema_storage_metrics"))]
