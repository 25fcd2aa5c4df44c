"""Protocol faults against the simulator: cuts, duplicates, malformed lines, 401, 416, 429, older events."""

import time
from dataclasses import replace

import httpx
from sqlalchemy import func, select

from strata.business_objects.models import Company
from strata.db import db
from strata.streams import service
from strata.streams.consumer import Consumer, ConsumerSettings, backoff
from strata.streams.ingest import write_batch
from strata.streams.models import StreamEvent, StreamMetadata
from strata.streams.protocol import parse_line
from strata.streams.resources import RESOURCE_TABLES
from strata.streams.simulator import SimulatorConfig
from tests.streams.conftest import FAST, wait_for


def _stream(stream_id: int) -> StreamMetadata:
    db.session.rollback()
    return db.session.get(StreamMetadata, stream_id)


def _count(*where) -> int:
    return db.session.scalar(select(func.count()).select_from(StreamEvent).where(*where))


def test_disconnects_mid_line_duplicates_and_malformed_lines(simulator, make_stream, consumer):
    sim = simulator(backlog=1500, pool=200, disconnect_rate=0.01, cut_rate=0.7, duplicate_rate=0.03,
                    malformed_rate=0.01, delete_rate=0.05)
    first, last = sim.config.first_timepoint, sim.config.first_timepoint + 1499
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: _stream(stream_id).last_timepoint == last, timeout=60)
        time.sleep(0.3)
    assert sim.simulator.requests > 3  # it really was cut off and resumed
    timepoints = db.session.scalars(select(StreamEvent.timepoint).where(StreamEvent.timepoint.is_not(None))).all()
    assert sorted(timepoints) == list(range(first, last + 1))  # each exactly once
    malformed = db.session.scalars(select(StreamEvent).where(StreamEvent.event_type == "malformed")).all()
    assert malformed and all(e.processing_status == "failed" and "Malformed line" in e.error_message
                             for e in malformed)
    assert _count(StreamEvent.processing_status == "failed", StreamEvent.event_type != "malformed") == 0
    assert _stream(stream_id).error_count == 0 or "Disconnected" in (_stream(stream_id).last_error or "")


def test_every_connection_cut_mid_line_resumes_at_last_plus_one(simulator, make_stream, consumer):
    sim = simulator(backlog=20, disconnect_rate=1.0, cut_rate=1.0, heartbeat=0.2)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: _stream(stream_id).last_timepoint == first + 19)
        assert wait_for(lambda: len(sim.simulator.asked) > 20)
    # Each connection sent one event and the start of the next line; the half line was dropped, not logged,
    # and the next connection asked for exactly the event after the checkpoint.
    assert list(sim.simulator.asked)[:21] == [str(tp) for tp in range(first, first + 21)]
    assert db.session.scalars(select(StreamEvent.timepoint).order_by(StreamEvent.timepoint)).all() == \
        list(range(first, first + 20))
    assert _count(StreamEvent.processing_status != "processed") == 0


def _row(number: str, timepoint: int, name: str, status: str = "active", event_type: str = "changed"):
    data = "" if event_type == "deleted" else (
        f',"data":{{"company_name":"{name}","company_number":"{number}","company_status":"{status}"}}')
    line = (f'{{"resource_kind":"company-profile","resource_id":"{number}","event":{{"timepoint":{timepoint},'
            f'"type":"{event_type}","published_at":"2024-06-27T17:14:02"}}{data}}}')
    return parse_line(line.encode())


def test_older_and_duplicate_events_never_overwrite_newer_data(scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9", track_all=True)
    write_batch(stream_id, [_row("SC571653", 100, "NEW NAME LTD", "active")])
    write_batch(stream_id, [_row("SC571653", 90, "OLD NAME LTD", "dissolved"),
                            _row("SC571653", 100, "NEW NAME LTD", "liquidation")])
    company = db.session.scalar(select(Company).where(Company.company_number == "SC571653"))
    assert (company.name, company.company_status, company.stream_timepoint) == ("NEW NAME LTD", "active", 100)
    assert _count() == 2 and _stream(stream_id).last_timepoint == 100
    write_batch(stream_id, [_row("SC571653", 101, "", event_type="deleted")])
    db.session.refresh(company)
    assert company.company_status == "removed" and company.stream_event_type == "deleted"
    assert company.name == "NEW NAME LTD"


def test_tracking_only_known_companies(scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9", track_all=False)
    db.session.add(Company(name="Mine", company_number="15893094"))
    db.session.commit()
    write_batch(stream_id, [_row("15893094", 5, "KNOWN LTD"), _row("00000001", 6, "UNKNOWN LTD")])
    numbers = db.session.scalars(select(Company.company_number)).all()
    assert numbers == ["15893094"]
    assert db.session.scalar(select(Company.name)) == "KNOWN LTD"
    assert _count(StreamEvent.processing_status == "processed") == 2


def test_bad_key_is_401_and_disables_the_stream(simulator, make_stream, consumer):
    sim = simulator(backlog=10)
    stream_id = make_stream(sim.url, key="wrong-key", last_timepoint=sim.config.first_timepoint - 1)
    with consumer(stream_id) as running:
        assert running.wait() == "unauthorized"
    stream = _stream(stream_id)
    assert stream.connection_status == "error" and not stream.enabled
    assert "Stream key rejected" in stream.last_error and "401" in stream.last_error
    assert sim.simulator.requests == 1


def test_timepoint_beyond_retention_is_416_and_needs_resync(simulator, make_stream, consumer):
    sim = simulator(backlog=500, retention=100)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint + 10)
    with consumer(stream_id) as running:
        assert running.wait() == "resync"
    stream = _stream(stream_id)
    assert stream.resync_needed and stream.connection_status == "error"
    assert "Resync needed" in stream.last_error and "416" in stream.last_error
    assert stream.last_timepoint == sim.config.first_timepoint + 10  # no silent jump to live
    assert _count() == 0


def _spy_sleeps(monkeypatch) -> list[float]:
    """Record every wait the consumer sleeps between connections (the real sleep still happens)."""
    sleeps: list[float] = []
    real = Consumer._sleep

    def spy(self, seconds: float) -> None:
        sleeps.append(seconds)
        real(self, seconds)

    monkeypatch.setattr(Consumer, "_sleep", spy)
    return sleeps


def test_rate_limit_429_waits_at_least_a_minute(simulator, make_stream, consumer, monkeypatch):
    # Not waiting a minute: the test reads the wait the consumer goes to sleep for, checks that nothing
    # reconnects meanwhile, and stops the consumer in the middle of that sleep.
    sleeps = _spy_sleeps(monkeypatch)
    sim = simulator(backlog=10, max_connections=0)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint - 1)
    settings = ConsumerSettings(check_interval=0.2, lock_ttl=5)  # the protocol's real waits
    with consumer(stream_id, settings):
        assert wait_for(lambda: "Rate limited (429)" in (_stream(stream_id).last_error or ""))
        time.sleep(1.5)
        assert sim.simulator.requests == 1 and len(sleeps) == 1
    stream = _stream(stream_id)
    wait = int(stream.last_error.split("retrying in ")[1].split(" s")[0])
    assert 60 <= sleeps[0] <= 72 and wait == round(sleeps[0]) and stream.connection_status == "error"


def test_backoff_floors_cap_and_jitter():
    import random

    rng = random.Random(1)
    assert 10 <= backoff(1, 10, 300, rng) <= 12
    assert 40 <= backoff(3, 10, 300, rng) <= 48
    assert 300 <= backoff(20, 10, 300, rng) <= 360
    assert 60 <= backoff(1, 60, 300, rng) <= 72


def test_server_error_waits_at_least_ten_seconds_and_counts(simulator, make_stream, consumer, monkeypatch):
    sleeps = _spy_sleeps(monkeypatch)
    stream_id = make_stream("http://127.0.0.1:9")  # nothing listens: connection refused
    settings = ConsumerSettings(check_interval=0.2, lock_ttl=5)
    with consumer(stream_id, settings):
        assert wait_for(lambda: _stream(stream_id).error_count >= 1)
        time.sleep(0.5)
        assert _stream(stream_id).error_count == 1
    stream = _stream(stream_id)
    assert "Connection failed" in stream.last_error
    assert 10 <= int(stream.last_error.split("retrying in ")[1].split(" s")[0]) <= 12
    assert len(sleeps) == 1 and 10 <= sleeps[0] <= 12


def test_stop_from_the_flag_and_heartbeats_keep_the_connection(simulator, make_stream, consumer):
    sim = simulator(backlog=5, heartbeat=0.1)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint - 1)
    with consumer(stream_id, FAST) as running:
        assert wait_for(lambda: _stream(stream_id).last_timepoint == sim.config.first_timepoint + 4)
        time.sleep(1.0)  # only heartbeats now
        assert _stream(stream_id).connection_status == "connected"
        stream = _stream(stream_id)
        stream.enabled = False
        db.session.commit()
        assert running.wait() == "disabled"
    assert _stream(stream_id).connection_status == "disconnected"
    assert sim.simulator.requests == 1


def test_heartbeats_keep_the_read_timeout_at_bay_and_silence_trips_it(simulator, make_stream, consumer):
    assert 2 * SimulatorConfig().heartbeat <= ConsumerSettings().read_timeout < 3 * SimulatorConfig().heartbeat
    sim = simulator(backlog=3, heartbeat=0.1)
    stream_id = make_stream(sim.url, last_timepoint=sim.config.first_timepoint - 1)
    with consumer(stream_id, replace(FAST, read_timeout=0.6)):
        assert wait_for(lambda: _stream(stream_id).last_timepoint == sim.config.first_timepoint + 2)
        time.sleep(1.5)  # heartbeats only, well past the read timeout
        assert sim.simulator.requests == 1 and _stream(stream_id).connection_status == "connected"
        sim.config.heartbeat = 60  # the server goes silent
        assert wait_for(lambda: "read deadline" in (_stream(stream_id).last_error or ""), timeout=10)
        assert wait_for(lambda: sim.simulator.requests >= 2, timeout=10)  # and the consumer reconnects
    assert list(sim.simulator.asked)[1] == str(sim.config.first_timepoint + 3)


def test_stall_alarm_when_connected_but_no_event_arrives(simulator, make_stream, consumer):
    sim = simulator(backlog=0, heartbeat=0.1)
    stream_id = make_stream(sim.url)
    stream = _stream(stream_id)
    stream.stall_after_seconds = 1  # below the form's minimum, to keep the test short
    db.session.commit()
    with consumer(stream_id):
        assert wait_for(lambda: "Stall alarm" in (_stream(stream_id).last_error or ""), timeout=10)
        stream = _stream(stream_id)
        assert stream.connection_status == "connected" and stream.last_event_at is None
        assert stream.last_error == "Stall alarm: no event for 1 s although connected"
        assert service.stats(stream).stalled  # the dashboard's alarm banner (rendered: test_views)
        sim.config.backlog = 5  # events flow again: the alarm clears
        assert wait_for(lambda: _stream(stream_id).last_timepoint is not None)
        assert not service.stats(_stream(stream_id)).stalled


def test_simulator_replay_includes_the_timepoint_and_deletes_have_no_data(simulator):
    sim = simulator(backlog=50, delete_rate=0.3)
    first = sim.config.first_timepoint
    with httpx.stream("GET", f"{sim.url}/companies", params={"timepoint": first + 7},
                      auth=("demo-stream-key", ""), timeout=5) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if body.count(b"\n") >= 43:
                break
    rows = [parse_line(line) for line in body.split(b"\n")[:43]]
    assert rows[0].timepoint == first + 7
    assert [r.timepoint for r in rows] == list(range(first + 7, first + 50))
    deleted = [r for r in rows if r.deleted]
    assert deleted and all('"data"' not in r.event_json for r in deleted)
    unauthorised = httpx.get(f"{sim.url}/companies", auth=("nope", ""))
    assert unauthorised.status_code == 401 and unauthorised.json() == {"error": "Invalid Authorization",
                                                                       "type": "ch:service"}


def test_without_checkpoint_the_stream_starts_live(simulator, make_stream, consumer):
    sim = simulator(backlog=100, rate=50, heartbeat=0.2)
    stream_id = make_stream(sim.url, last_timepoint=None)
    with consumer(stream_id):
        assert wait_for(lambda: _stream(stream_id).last_timepoint is not None, timeout=10)
        assert _stream(stream_id).connection_status == "connected"
    assert db.session.scalar(select(func.min(StreamEvent.timepoint))) >= sim.config.first_timepoint + 100


def test_events_of_other_streams_land_in_their_table_not_in_companies(simulator, scoped, admin_id, consumer):
    sim = simulator(backlog=50, delete_rate=0)
    first = sim.config.first("filing-history")
    stream = service.create_stream({"stream_type": "filing-history", "base_url": sim.url,
                                    "stream_key": "demo-stream-key", "track_all": "on"}, admin_id)
    stream.enabled, stream.last_timepoint = True, first - 1
    db.session.commit()
    assert stream.url.endswith("/filings") and first != sim.config.first_timepoint
    with consumer(stream.id):
        assert wait_for(lambda: _stream(stream.id).last_timepoint == first + 49)
    kinds = db.session.scalars(select(StreamEvent.resource_kind).distinct()).all()
    assert kinds == ["filing-history"] and _count(StreamEvent.processing_status == "processed") == 50
    assert _count(StreamEvent.company_number.is_(None)) == 0
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0
    filings = RESOURCE_TABLES["company_filings"]
    assert db.session.scalar(select(func.count()).select_from(filings)) == db.session.scalar(
        select(func.count(func.distinct(StreamEvent.event_data["resource_id"].astext))))
