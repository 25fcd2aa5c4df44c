"""Exactly one consumer per enabled stream: the supervisor, the Redis lock, and a real RQ worker running it."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from rq import Queue
from sqlalchemy import func, select

from strata.core import queues
from strata.db import db
from strata.streams import supervisor
from strata.streams.consumer import Consumer, lock_name
from strata.streams.host import WANTED, host_lock_name
from strata.streams.models import StreamEvent, StreamMetadata
from strata.tenancy.service import tenant_context
from tests.streams.conftest import wait_for
from workers import periodic

ROOT = Path(__file__).resolve().parents[2]


def _queued() -> list:
    return Queue("streams", connection=queues.connection).get_jobs()


def test_supervisor_wants_enabled_streams_and_enqueues_one_host(app, tenant_id, scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9")
    db.session.commit()
    assert list(supervisor.ensure_all().values()) == [[stream_id]]  # wanted, not yet running
    assert queues.connection.smembers(WANTED) == {f"{tenant_id}:{stream_id}".encode()}
    [job] = _queued()
    assert job.func_name == "workers.streams.host_streams" and job.args == (0,)
    supervisor.ensure_all()
    assert len(_queued()) == 1  # the host job still waits in the queue
    Queue("streams", connection=queues.connection).empty()
    queues.connection.set(host_lock_name(0), "someone", ex=5)  # a live host holds slot 0
    supervisor.ensure_all()
    assert _queued() == []
    queues.connection.delete(host_lock_name(0))
    with tenant_context(scoped):
        db.session.get(StreamMetadata, stream_id).resync_needed = True
    supervisor.ensure_all()
    assert queues.connection.smembers(WANTED) == set() and _queued() == []


def test_one_host_slot_per_so_many_streams(app, tenant_id, make_stream):
    queues.connection.sadd(WANTED, *[f"{tenant_id}:{i}" for i in range(1, 8)])
    assert len(supervisor.ensure_hosts(per_host=3)) == 3
    assert sorted(job.args for job in _queued()) == [(0,), (1,), (2,)]


def test_second_consumer_of_a_stream_stops_at_once(tenant_id, scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9")
    queues.connection.set(lock_name(tenant_id, stream_id), "held", ex=5)
    with tenant_context(scoped):
        assert Consumer(stream_id).run() == "locked"


def test_supervisor_is_a_periodic_job():
    jobs = {f"{p.func.__module__}.{p.func.__qualname__}": p for p in periodic.declared()}
    assert jobs["workers.streams.supervise_streams"].every == 30


def _stream(scope, stream_id: int) -> StreamMetadata:
    with tenant_context(scope):
        stream = db.session.get(StreamMetadata, stream_id)
        db.session.expunge(stream)
        return stream


def test_rq_worker_hosts_the_stream_until_stopped_and_ends_when_the_worker_is_killed(app, tenant_id, scoped,
                                                                                       simulator, make_stream):
    sim = simulator(backlog=400, heartbeat=0.2)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    db.session.commit()
    supervisor.ensure_all()
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT), STREAMS_LOCK_TTL="3")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--queues",
                               "streams", "--no-scheduler"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _stream(scoped, stream_id).last_timepoint == first + 399, 60)
        assert supervisor.is_running(tenant_id, stream_id)
        assert _stream(scoped, stream_id).connection_status == "connected"
        [horse] = psutil.Process(worker.pid).children()
        with tenant_context(scoped):
            db.session.get(StreamMetadata, stream_id).enabled = False
        # Stopped: the consumer ends and the stream leaves the wanted set; the host goes on.
        assert wait_for(lambda: not supervisor.is_running(tenant_id, stream_id) and
                        not queues.connection.smembers(WANTED), 20)
        assert _stream(scoped, stream_id).connection_status == "disconnected" and horse.is_running()
        with tenant_context(scoped):
            db.session.get(StreamMetadata, stream_id).enabled = True
            db.session.commit()
            assert supervisor.ensure_consumer(stream_id) is None  # the live host takes it: no new job
        assert wait_for(lambda: supervisor.is_running(tenant_id, stream_id), 20)
        # The worker dies outright: its work horse notices, stops the consumer and ends too.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert wait_for(lambda: not horse.is_running() or horse.status() == psutil.STATUS_ZOMBIE, 20)
        assert not supervisor.is_running(tenant_id, stream_id)
    finally:
        for process in psutil.Process(worker.pid).children() if worker.poll() is None else []:
            process.kill()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    with tenant_context(scoped):
        assert db.session.scalar(select(func.count()).select_from(StreamEvent)) == 400
