"""Keeping exactly one live consumer per enabled stream, many streams per worker process.

A running consumer holds the Redis lock `strata:streams:consumer:<tenant>:<stream>` and renews it
every few seconds, so the lock is the truth about liveness (the heartbeat): a consumer killed outright
loses it when its TTL runs out, and its stream then shows as not running. Consumers run inside hosts
(`strata.streams.host`): long-running `streams.host` jobs, each running up to `STREAMS_PER_WORKER`
consumers in threads. The supervisor (a periodic job, and every Start in the UI) puts enabled streams
in the wanted set and enqueues a host job for each slot that has no live host and no job waiting, one
slot per `STREAMS_PER_WORKER` wanted streams; so a handful of `flask worker -q streams` processes serve
every stream of every tenant. Two supervisors racing may enqueue two host jobs for a slot; the second
finds the slot's lock taken and ends at once.
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
from strata.streams.host import WANTED, host_lock_name, member
from strata.streams.models import StreamMetadata

log = logging.getLogger(__name__)
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def is_running(tenant_id: int, stream_id: int) -> bool:
    """Return whether a live consumer holds the stream's lock."""
    return bool(queues.connection.exists(lock_name(tenant_id, stream_id)))


def running_streams(tenant_id: int, stream_ids: list[int]) -> set[int]:
    """Return which of `stream_ids` have a live consumer (one round trip)."""
    pipe = queues.connection.pipeline(transaction=False)
    for stream_id in stream_ids:
        pipe.exists(lock_name(tenant_id, stream_id))
    return {stream_id for stream_id, held in zip(stream_ids, pipe.execute(), strict=True) if held}


def _host_job_key(slot: int) -> str:
    return f"strata:streams:hostjob:{slot}"


def _waiting(key: str) -> bool:
    job_id = queues.connection.get(key)
    if job_id is None:
        return False
    try:
        return Job.fetch(job_id.decode(), connection=queues.connection).get_status() in WAITING
    except NoSuchJobError:
        return False


def ensure_hosts(per_host: int | None = None) -> list[str]:
    """Enqueue a host job for each slot the wanted streams need that has no live host nor waiting job."""
    if per_host is None:
        from flask import current_app

        per_host = int(current_app.config.get("STREAMS_PER_WORKER", 500))
    wanted = queues.connection.scard(WANTED)
    started = []
    for slot in range(-(-wanted // max(1, per_host))):
        if queues.connection.exists(host_lock_name(slot)) or _waiting(_host_job_key(slot)):
            continue
        job = jobs.enqueue("streams.host", slot)
        queues.connection.set(_host_job_key(slot), job.id, ex=7 * 86_400)
        log.info("enqueued stream host %s for slot %s", job.id, slot)
        started.append(job.id)
    return started


def ensure_consumer(stream_id: int) -> str | None:
    """Want one stream of the current tenant run, and make sure a host will run it; return a new host job id."""
    queues.connection.sadd(WANTED, member(current_scope().tenant_id, stream_id))
    started = ensure_hosts()
    return started[0] if started else None


def _enabled_ids() -> list[int]:
    return list(db.session.scalars(select(StreamMetadata.id).where(StreamMetadata.enabled.is_(True),
                                                                   StreamMetadata.resync_needed.is_(False))))


def ensure_tenant() -> list[str]:
    """Want every enabled stream of the current tenant run; return the new host job ids."""
    tenant_id = current_scope().tenant_id
    ids = _enabled_ids()
    if ids:
        queues.connection.sadd(WANTED, *[member(tenant_id, i) for i in ids])
    return ensure_hosts()


def ensure_all() -> dict[str, list[int]]:
    """Rebuild the wanted set from every active tenant's enabled streams and make sure hosts run them.

    Only tenants with an enabled stream are entered (the housekeeping index lists them).
    Return, by tenant slug, the wanted streams that have no live consumer yet (a host starts them).
    """
    from strata.housekeeping import due_tenants
    from strata.tenancy.service import tenant_context

    wanted: list[str] = []
    idle: dict[str, list[int]] = {}
    for tenant in due_tenants("streams"):
        tenant_id, slug = tenant.id, tenant.slug
        with tenant_context(tenant):
            ids = _enabled_ids()
        wanted += [member(tenant_id, i) for i in ids]
        if missing := sorted(set(ids) - running_streams(tenant_id, ids)):
            idle[slug] = missing
    pipe = queues.connection.pipeline()  # replace the set in one step: stopped streams leave it
    pipe.delete(WANTED)
    if wanted:
        pipe.sadd(WANTED, *wanted)
    pipe.execute()
    ensure_hosts()
    return idle
