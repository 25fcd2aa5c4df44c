"""Connections: a silent link is replaced after the read deadline; a killed consumer's stream shows it within 30 s."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from strata.db import db
from strata.streams import service, supervisor
from strata.streams.models import StreamEvent, StreamMetadata
from tests.streams.conftest import FAST, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _stream(stream_id: int) -> StreamMetadata:
    db.session.rollback()
    return db.session.get(StreamMetadata, stream_id)


def test_silent_connection_is_replaced_within_twice_the_deadline_at_checkpoint_plus_one(simulator, make_stream,
                                                                                        consumer):
    deadline = 1.0
    sim = simulator(backlog=30, silent_after=5, heartbeat=0.2, max_connections=50)
    stream_type = "company-officers"
    first = sim.config.first(stream_type)
    stream_id = make_stream(sim.url, stream_type=stream_type, last_timepoint=first - 1)
    with consumer(stream_id, replace(FAST, read_timeout=deadline)):
        assert wait_for(lambda: _stream(stream_id).last_timepoint == first + 29, timeout=30)
        assert wait_for(lambda: len(sim.simulator.asked) >= 7)
    asked, at = list(sim.simulator.asked)[:7], list(sim.simulator.asked_at)[:7]
    # Every connection sent five events and half a line, then fell silent (no heartbeat): each was given up
    # after the read deadline and the next one asked for the event after the checkpoint.
    assert asked == [str(first + 5 * i) for i in range(7)]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    assert all(deadline <= gap < 2 * deadline for gap in gaps), gaps
    timepoints = db.session.scalars(select(StreamEvent.timepoint).order_by(StreamEvent.timepoint)).all()
    assert timepoints == list(range(first, first + 30))
    assert "read deadline" in (_stream(stream_id).last_error or "")


def test_killed_consumer_shows_as_not_running_within_30_seconds(app, tenant, tenant_id, simulator, make_stream):
    slug = tenant.slug
    sim = simulator(backlog=50, heartbeat=0.5)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint - 1)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    env.pop("STREAMS_LOCK_TTL", None)  # the default heartbeat
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "streams", "consume",
                                slug, str(stream_id)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _stream(stream_id).last_timepoint == sim.config.first_timepoint + 49, 60)
        stream = _stream(stream_id)
        assert service.state(stream, supervisor.is_running(tenant_id, stream_id)).state == "connected"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    killed = time.monotonic()
    assert _stream(stream_id).connection_status == "connected"  # what the dead consumer last wrote
    assert wait_for(lambda: service.state(_stream(stream_id), supervisor.is_running(tenant_id, stream_id)).state
                    == "not running", timeout=30, interval=0.5)
    assert time.monotonic() - killed < 30


def test_consumer_whose_lock_is_gone_stops(simulator, make_stream, consumer, tenant_id):
    from strata.core import queues
    from strata.streams.consumer import lock_name

    sim = simulator(backlog=20, heartbeat=0.2)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint - 1)
    with consumer(stream_id, replace(FAST, lock_ttl=3, check_interval=0.2)) as running:
        assert wait_for(lambda: _stream(stream_id).last_timepoint == sim.config.first_timepoint + 19)
        queues.connection.set(lock_name(tenant_id, stream_id), "another consumer", ex=30)  # taken over
        assert running.wait(10) == "lock lost"
    assert queues.connection.get(lock_name(tenant_id, stream_id)) == b"another consumer"  # not released by us
