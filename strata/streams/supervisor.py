"""Keeping exactly one live consumer per enabled stream.

A running consumer holds the Redis lock `strata:streams:consumer:<tenant>:<stream>` and renews it
every few seconds, so the lock is the truth about liveness: a consumer killed outright loses it when
its TTL runs out. The supervisor (a periodic job, and every Start in the UI) enqueues a consumer job
for an enabled stream whose lock is free and whose last job is not still waiting in the queue. Two
supervisors racing may enqueue two jobs; the second finds the lock taken and ends at once.
"""

from __future__ import annotations

import logging

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from strata import jobs
from strata.core import queues
from strata.db import current_scope, db
from strata.streams.consumer import lock_name
from strata.streams.models import StreamMetadata

log = logging.getLogger(__name__)
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def _job_key(tenant_id: int, stream_id: int) -> str:
    return f"strata:streams:job:{tenant_id}:{stream_id}"


def is_running(tenant_id: int, stream_id: int) -> bool:
    """Return whether a live consumer holds the stream's lock."""
    return bool(queues.connection.exists(lock_name(tenant_id, stream_id)))


def _waiting(tenant_id: int, stream_id: int) -> bool:
    job_id = queues.connection.get(_job_key(tenant_id, stream_id))
    if job_id is None:
        return False
    try:
        return Job.fetch(job_id.decode(), connection=queues.connection).get_status() in WAITING
    except NoSuchJobError:
        return False


def ensure_consumer(stream_id: int) -> str | None:
    """Enqueue a consumer for one stream of the current tenant unless one runs or waits; return the job id."""
    tenant_id = current_scope().tenant_id
    if is_running(tenant_id, stream_id) or _waiting(tenant_id, stream_id):
        return None
    job = jobs.enqueue("streams.consume", tenant_id, stream_id)
    queues.connection.set(_job_key(tenant_id, stream_id), job.id, ex=7 * 86_400)
    log.info("enqueued consumer %s for stream %s of tenant %s", job.id, stream_id, tenant_id)
    return job.id


def ensure_tenant() -> list[str]:
    """Enqueue consumers for every enabled stream of the current tenant that has none; return the job ids."""
    ids = db.session.scalars(select(StreamMetadata.id).where(StreamMetadata.enabled.is_(True),
                                                             StreamMetadata.resync_needed.is_(False)))
    return [job_id for stream_id in list(ids) if (job_id := ensure_consumer(stream_id))]


def ensure_all() -> dict[str, list[str]]:
    """Walk every active tenant and enqueue missing consumers; return the new job ids by tenant slug."""
    from strata.tenancy.service import list_tenants, tenant_context

    started: dict[str, list[str]] = {}
    for tenant in [t for t in list_tenants() if t.status == "active"]:
        with tenant_context(tenant):
            jobs = ensure_tenant()
        if jobs:
            started[tenant.slug] = jobs
    return started
