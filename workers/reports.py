"""Report jobs: backfill slots on the `backfills` queue, and the periodic schedule tick and dead-segment sweep."""

from __future__ import annotations

import logging
import os
import socket
import uuid

from rq import Retry, get_current_job

from strata import housekeeping
from strata.reports import engine, service
from workers import job
from workers.periodic import periodic

log = logging.getLogger(__name__)

# Segment retries happen inside the slot (back-off per report); RQ retries only a slot that crashed.
SLOT_RETRY = Retry(max=2)


@job("reports.run_slot", queue="backfills", timeout=int(engine.SLOT_BUDGET_SECONDS) + 900, retry=SLOT_RETRY)
def run_slot(collection_id: str) -> int:
    """Work segments of one report's runs until none is left; return how many this slot ran."""
    current = get_current_job()
    worker = f"{socket.gethostname()}:{os.getpid()}:{current.id if current else '-'}"
    return engine.run_slot(uuid.UUID(collection_id), worker)


@periodic(every=30, queue="default", timeout=240)
def tick_schedules() -> dict[str, object]:
    """Start a collection for every due schedule, in the tenants whose earliest schedule is due."""
    return housekeeping.each_due_tenant("schedule", service.tick)


@periodic(every=20, queue="default", timeout=240)
def sweep_segments() -> dict[str, object]:
    """Requeue segments whose worker died (heartbeat stopped), in the tenants with report runs in progress."""
    return housekeeping.each_due_tenant("segments", engine.sweep)
