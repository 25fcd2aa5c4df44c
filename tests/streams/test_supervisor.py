"""Exactly one consumer per enabled stream: the supervisor, the Redis lock, and a real RQ worker running it."""

import os
import subprocess
import sys
from pathlib import Path

from rq import Queue
from sqlalchemy import func, select

from strata.core import queues
from strata.db import db
from strata.streams import supervisor
from strata.streams.consumer import Consumer, lock_name
from strata.streams.models import StreamEvent, StreamMetadata
from strata.tenancy.service import tenant_context
from tests.streams.conftest import wait_for
from workers import periodic

ROOT = Path(__file__).resolve().parents[2]


def _queued() -> list:
    return Queue("streams", connection=queues.connection).get_jobs()


def test_supervisor_enqueues_one_consumer_per_enabled_stream(app, tenant, make_stream):
    stream_id = make_stream("http://127.0.0.1:9")
    db.session.commit()
    started = supervisor.ensure_all()
    assert list(started) == [tenant.slug] and len(_queued()) == 1
    assert supervisor.ensure_all() == {}  # the job still waits in the queue
    assert len(_queued()) == 1
    Queue("streams", connection=queues.connection).empty()
    queues.connection.set(lock_name(tenant.id, stream_id), "someone", ex=5)  # a live consumer holds the lock
    assert supervisor.ensure_all() == {}
    queues.connection.delete(lock_name(tenant.id, stream_id))
    with tenant_context(tenant.id):
        db.session.get(StreamMetadata, stream_id).resync_needed = True
    assert supervisor.ensure_all() == {}
    assert _queued() == []


def test_second_consumer_of_a_stream_stops_at_once(tenant, make_stream):
    stream_id = make_stream("http://127.0.0.1:9")
    queues.connection.set(lock_name(tenant.id, stream_id), "held", ex=5)
    with tenant_context(tenant.id):
        assert Consumer(stream_id).run() == "locked"


def test_supervisor_is_a_periodic_job():
    jobs = {f"{p.func.__module__}.{p.func.__qualname__}": p for p in periodic.declared()}
    assert jobs["workers.streams.supervise_streams"].every == 30


def test_rq_worker_runs_the_consumer_until_the_stream_is_stopped(app, tenant, simulator, make_stream):
    sim = simulator(backlog=400, heartbeat=0.2)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    [job_id] = supervisor.ensure_all()[tenant.slug]
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--queues",
                               "streams", "--burst", "--no-scheduler"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with tenant_context(tenant.id):
            assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + 399, 60)
            assert supervisor.is_running(tenant.id, stream_id)
            assert db.session.get(StreamMetadata, stream_id).connection_status == "connected"
            db.session.get(StreamMetadata, stream_id).enabled = False
            db.session.commit()
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    from rq.job import Job

    assert Job.fetch(job_id, connection=queues.connection).return_value() == "disabled"
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(StreamEvent)) == 400
        assert db.session.get(StreamMetadata, stream_id).connection_status == "disconnected"
    assert not supervisor.is_running(tenant.id, stream_id)
