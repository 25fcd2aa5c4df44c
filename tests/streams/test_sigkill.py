"""Crash safety: a consumer process killed with SIGKILL again and again loses and doubles nothing."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from strata.business_objects.models import Company
from strata.core import queues
from strata.db import db
from strata.streams.consumer import lock_name
from strata.streams.models import StreamEvent, StreamMetadata
from tests.streams.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOTAL, KILLS = 20_000, 10


def _consumer(app, slug: str, stream_id: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "streams", "consume", slug,
                             str(stream_id), "--lock-ttl", "2", "--batch-size", "500"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _logged() -> int:
    return db.session.scalar(select(func.count()).select_from(StreamEvent))


def _kill_during_ingestion(app, tenant, stream_id: int, rng: random.Random) -> None:
    before = _logged()
    process = _consumer(app, tenant.slug, stream_id)
    try:
        assert wait_for(lambda: _logged() > before, timeout=30, interval=0.02), "the consumer made no progress"
        time.sleep(rng.uniform(0, 0.4))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    # The dead consumer's lock expires by its TTL; only then can the next one take over.
    assert wait_for(lambda: not queues.connection.exists(lock_name(tenant.id, stream_id)), timeout=10)


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
            assert (company.name, company.company_status, company.etag) == (
                data["company_name"], data["company_status"], data["etag"])
            assert company.date_of_creation.isoformat() == data["date_of_creation"]


def test_sigkill_at_random_moments_then_restart_loses_and_doubles_nothing(app, tenant, simulator, make_stream):
    sim = simulator(backlog=2000, rate=1500, total=TOTAL, pool=3000, delete_rate=0.03, duplicate_rate=0.01,
                    disconnect_rate=0.002, cut_rate=0.5, heartbeat=0.5, max_connections=50)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    rng = random.Random()
    started = time.monotonic()
    for _ in range(KILLS):
        _kill_during_ingestion(app, tenant, stream_id, rng)
    print(f"{KILLS} kills in {time.monotonic() - started:.1f} s, {_logged()} events logged")
    assert _logged() < TOTAL, "the kills should land during the run"
    final = _consumer(app, tenant.slug, stream_id)
    try:
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + TOTAL - 1,
                        timeout=60)
    finally:
        final.terminate()
        assert final.wait(15) == 0
    timepoints = db.session.scalars(select(StreamEvent.timepoint).order_by(StreamEvent.timepoint)).all()
    assert timepoints == list(range(first, first + TOTAL))
    assert db.session.scalar(select(func.count()).select_from(StreamEvent)
                             .where(StreamEvent.processing_status != "processed")) == 0
    _assert_companies_match_latest_events()
    assert db.session.get(StreamMetadata, stream_id).connection_status == "disconnected"
