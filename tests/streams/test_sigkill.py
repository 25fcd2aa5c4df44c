"""Crash safety: consumers killed with SIGKILL at random moments lose and double nothing.

A real `flask worker` on the streams queue runs the stream host job (and its consumer threads) in a
forked work horse. The test kills the horse with SIGKILL ten times while it ingests, and once the whole
worker with its horse, each time letting the locks expire and the supervisor (what the periodic job
runs) start a new host. It runs on the company-profile stream and on the PSC stream (several resource
kinds, each resource stored in its table).
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from strata.business_objects.models import Company
from strata.core import queues
from strata.db import db
from strata.streams import supervisor
from strata.streams.consumer import lock_name
from strata.streams.host import host_lock_name
from strata.streams.models import StreamEvent, StreamMetadata
from strata.streams.resources import RESOURCE_TABLES
from tests.streams.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOTAL, HORSE_KILLS = 20_000, 10


def _worker(app) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT), STREAMS_LOCK_TTL="2")
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--queues",
                             "streams", "--no-scheduler"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _horses(worker: subprocess.Popen) -> list[int]:
    return [child.pid for child in psutil.Process(worker.pid).children(recursive=True)]


def _logged() -> int:
    return db.session.scalar(select(func.count()).select_from(StreamEvent))


def _kill_during_ingestion(tenant_id: int, stream_id: int, pids, rng: random.Random) -> int:
    """Start a consumer through the supervisor, wait until it writes, then SIGKILL `pids()` at a random moment;
    return how many events were logged just before the kill."""
    assert wait_for(lambda: not queues.connection.exists(lock_name(tenant_id, stream_id), host_lock_name(0)),
                    timeout=15)
    before = _logged()
    assert supervisor.ensure_all(), "the supervisor should start a consumer"
    assert wait_for(lambda: _logged() > before, timeout=60, interval=0.02), "the consumer made no progress"
    time.sleep(rng.uniform(0, 0.3))
    logged = _logged()
    for pid in pids():
        os.kill(pid, signal.SIGKILL)
    return logged


def _assert_companies_match_latest_events() -> None:
    latest = select(StreamEvent.company_number, func.max(StreamEvent.timepoint).label("tp")) \
        .group_by(StreamEvent.company_number).subquery()
    events = db.session.scalars(select(StreamEvent).join(latest, StreamEvent.timepoint == latest.c.tp)).all()
    companies = {c.company_number: c for c in db.session.scalars(select(Company))}
    for event in events:
        company = companies.get(event.company_number)
        if company is None:  # only ever deleted, so never known: nothing to insert
            kinds = db.session.scalars(select(StreamEvent.event_type).distinct()
                                       .where(StreamEvent.company_number == event.company_number)).all()
            assert kinds == ["deleted"]
            continue
        assert company.stream_timepoint == event.timepoint and company.stream_event_type == event.event_type
        if event.event_type == "deleted":
            assert company.company_status == "removed"
        else:
            data = event.event_data["data"]
            stored = (company.name, company.company_status, company.etag, company.company_type, company.jurisdiction,
                      company.date_of_creation.isoformat(),
                      company.date_of_cessation and company.date_of_cessation.isoformat(),
                      company.registered_office_address, company.sic_codes, company.accounts,
                      company.stream_event_id)
            assert stored == (data["company_name"], data["company_status"], data["etag"], data["type"],
                              data["jurisdiction"], data["date_of_creation"], data.get("date_of_cessation"),
                              data["registered_office_address"], data["sic_codes"], data["accounts"],
                              event.event_id)


def _assert_resources_match_latest_events() -> None:
    latest: dict[str, StreamEvent] = {}
    for event in db.session.scalars(select(StreamEvent).order_by(StreamEvent.timepoint)):
        latest[event.event_data["resource_id"]] = event
    table = RESOURCE_TABLES["company_pscs"]
    stored = {r.resource_id: r for r in db.session.execute(select(table))}
    assert set(stored) == set(latest)
    for resource_id, event in latest.items():
        row = stored[resource_id]
        assert (row.stream_timepoint, row.stream_event_id, row.deleted, row.company_number, row.resource_kind) == (
            event.timepoint, event.event_id, event.event_type == "deleted", event.company_number,
            event.resource_kind)
        if event.event_type == "changed":
            assert row.data == event.event_data["data"]


@pytest.mark.parametrize("stream_type", ["company-profile", "company-psc-individual"])
def test_sigkill_at_random_moments_then_restart_loses_and_doubles_nothing(app, tenant_id, simulator, make_stream,
                                                                          stream_type):
    sim = simulator(backlog=1000, rate=1000, total=TOTAL, pool=3000, delete_rate=0.03, duplicate_rate=0.01,
                    disconnect_rate=0.0005, cut_rate=0.5, heartbeat=0.5, max_connections=50)
    first = sim.config.first(stream_type)
    stream_id = make_stream(sim.url, last_timepoint=first - 1, stream_type=stream_type)
    rng = random.Random()
    worker = _worker(app)
    try:
        # The whole worker (main process and work horse) dies once; then only horses die.
        _kill_during_ingestion(tenant_id, stream_id, lambda: [*_horses(worker), worker.pid], rng)
        worker.wait(10)
        worker = _worker(app)
        landed = []
        for _ in range(HORSE_KILLS):
            if _logged() >= TOTAL * 0.9:  # a fast machine: keep the rest of the run for the final catch-up
                break
            landed.append(_kill_during_ingestion(tenant_id, stream_id, lambda: _horses(worker), rng))
        # Every kill landed mid-run (what happens after the last, a quick restart finishing the run, is fine).
        assert len(landed) >= 3 and max(landed) < TOTAL, f"the kills should land during the run: {landed}"
        assert wait_for(lambda: not queues.connection.exists(lock_name(tenant_id, stream_id), host_lock_name(0)),
                        timeout=15)
        supervisor.ensure_all()
        # Correctness, not speed, is asserted: on a loaded machine the last catch-up may take minutes.
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + TOTAL - 1,
                        timeout=240)
    finally:
        for pid in [*_horses(worker), worker.pid]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
    timepoints = db.session.scalars(select(StreamEvent.timepoint).order_by(StreamEvent.timepoint)).all()
    assert timepoints == list(range(first, first + TOTAL))
    assert db.session.scalar(select(func.count()).select_from(StreamEvent)
                             .where(StreamEvent.processing_status != "processed")) == 0
    if stream_type == "company-profile":
        _assert_companies_match_latest_events()
    else:
        assert db.session.scalar(select(func.count()).select_from(StreamEvent)
                                 .where(StreamEvent.company_number.is_(None))) == 0
        _assert_resources_match_latest_events()
