"""Report jobs: backfill slots on the `backfills` queue, and the periodic schedule tick and dead-segment sweep."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from rq import Retry, get_current_job

from strata.db import db
from strata.reports import engine, service
from workers import job
from workers.periodic import periodic

log = logging.getLogger(__name__)

# A slot whose segments failed (with retry_failed) raises; RQ runs it again for those segments.
SLOT_RETRY = Retry(max=engine.MAX_ATTEMPTS - 1)


@job("reports.run_slot", queue="backfills", timeout=int(engine.SLOT_BUDGET_SECONDS) + 900, retry=SLOT_RETRY)
def run_slot(collection_id: str) -> int:
    """Work segments of one collection until none is left; return how many this slot ran."""
    current = get_current_job()
    last_try = current is None or not current.retries_left
    worker = f"{socket.gethostname()}:{os.getpid()}:{current.id if current else '-'}"
    return engine.run_slot(uuid.UUID(collection_id), worker, last_try=last_try)


def _each_tenant(work) -> dict[str, object]:
    """Run `work()` in every active tenant; one tenant's failure does not stop the others."""
    from strata.tenancy.service import list_tenants, tenant_context

    tenants = [t for t in list_tenants() if t.status == "active"]
    db.session.rollback()
    outcome: dict[str, object] = {}
    for tenant in tenants:
        try:
            with tenant_context(tenant.scope()):
                outcome[tenant.slug] = work()
        except Exception:  # noqa: BLE001 — logged; the next tenant still gets its turn
            log.exception("reports periodic job failed for tenant %s", tenant.slug)
            outcome[tenant.slug] = "error"
    return outcome


@periodic(every=30, queue="default", timeout=240)
def tick_schedules() -> dict[str, object]:
    """Start a collection for every due schedule in every tenant."""
    return _each_tenant(service.tick)


@periodic(every=20, queue="default", timeout=240)
def sweep_segments() -> dict[str, object]:
    """Requeue segments whose worker died (heartbeat stopped) in every tenant."""
    return _each_tenant(engine.sweep)
