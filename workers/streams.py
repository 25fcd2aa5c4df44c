"""Stream jobs: one long-running consumer per enabled stream on `streams`, and the supervisor that keeps it so."""

from __future__ import annotations

import os

from strata.streams import supervisor
from strata.streams.consumer import Consumer, ConsumerSettings
from workers import job
from workers.periodic import periodic


@job("streams.consume", queue="streams", timeout=-1)
def consume_stream(stream_id: int) -> str:
    """Consume one stream of the job's tenant until it is stopped; return why it stopped."""
    # How long a killed consumer's lock outlives it, so how soon the supervisor may replace it.
    ttl = int(os.environ.get("STREAMS_LOCK_TTL", "30"))
    return Consumer(stream_id, ConsumerSettings(lock_ttl=ttl, check_interval=min(2.0, ttl / 3))).run()


@periodic(every=30, queue="default", timeout=120)
def supervise_streams() -> dict[str, list[str]]:
    """Enqueue a consumer for every enabled stream that has no live one; return the new job ids by tenant."""
    return supervisor.ensure_all()
