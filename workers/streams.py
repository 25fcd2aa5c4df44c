"""Stream jobs on `streams`: long-running hosts of many consumers (or one consumer), and the supervisor."""

from __future__ import annotations

import os

from flask import current_app

from strata.streams import supervisor
from strata.streams.consumer import Consumer, ConsumerSettings
from strata.streams.host import Host
from workers import job
from workers.periodic import periodic


@job("streams.consume", queue="streams", timeout=-1)
def consume_stream(stream_id: int) -> str:
    """Consume one stream of the job's tenant until it is stopped; return why it stopped."""
    settings = ConsumerSettings.from_config(current_app.config, parent_pid=os.getppid())
    return Consumer(stream_id, settings).run()


@job("streams.host", queue="streams", timeout=-1, tenant=False)
def host_streams(slot: int) -> str:
    """Run the consumers of up to STREAMS_PER_WORKER wanted streams until the worker goes; return why it ended."""
    app = current_app._get_current_object()
    # The work horse's parent is the worker: if the worker is killed, the host stops its consumers and ends.
    return Host(app, slot, int(app.config.get("STREAMS_PER_WORKER", 500)), parent_pid=os.getppid()).run()


@periodic(every=30, queue="default", timeout=120)
def supervise_streams() -> dict[str, list[int]]:
    """Want every enabled stream run and start hosts where needed; return the streams not yet running by tenant."""
    return supervisor.ensure_all()
