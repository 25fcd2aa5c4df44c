"""All nine streams on their real event shapes: company numbers from `resource_uri`, resources in their tables."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from strata.business_objects.models import Company
from strata.db import db
from strata.streams.ingest import write_batch
from strata.streams.models import STREAM_PATHS, StreamEvent, StreamMetadata
from strata.streams.protocol import parse_line
from strata.streams.resources import RESOURCE_TABLES, STREAM_KINDS, TABLE_OF_KIND
from tests.streams.conftest import wait_for

FIXTURES = Path(__file__).parent / "fixtures"
KIND_OF_PATH = {path: kind for kind, path in STREAM_PATHS.items()}
# Fixture file (named after the stream's path) → stream type.
SAMPLES = {KIND_OF_PATH["/" + f.stem]: json.loads(f.read_text()) for f in sorted(FIXTURES.glob("*.json"))}


def _expected_number(event: dict) -> str | None:
    uri = event["resource_uri"]
    if uri.startswith("/company/"):
        return uri.split("/")[2]
    return (event.get("data") or {}).get("company_number")


def _rows(table: str) -> dict[str, dict]:
    t = RESOURCE_TABLES[table]
    return {r.resource_id: r._asdict() for r in db.session.execute(select(t))}


def test_fixtures_cover_all_nine_streams_and_every_psc_kind():
    assert set(SAMPLES) == set(STREAM_PATHS)
    kinds = {e["resource_kind"] for events in SAMPLES.values() for e in events}
    assert kinds == {k for ks in STREAM_KINDS.values() for k in ks}


@pytest.mark.parametrize("stream_type", sorted(SAMPLES))
def test_real_samples_through_the_consumer(stream_type, simulator, make_stream, consumer):
    events = SAMPLES[stream_type]
    sim = simulator(scripted={stream_type: events}, heartbeat=0.2)
    first, last = events[0]["event"]["timepoint"], events[-1]["event"]["timepoint"]
    stream_id = make_stream(sim.url, stream_type=stream_type, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == last)
    logged = {e.timepoint: e for e in db.session.scalars(select(StreamEvent))}
    assert sorted(logged) == [e["event"]["timepoint"] for e in events]
    for event in events:
        row = logged[event["event"]["timepoint"]]
        assert (row.processing_status, row.error_message) == ("processed", None)
        assert row.company_number == _expected_number(event)
        assert row.resource_kind == event["resource_kind"]
    if stream_type == "company-profile":
        company = db.session.scalar(select(Company).where(Company.company_number == "10676322"))
        assert company.name == "CROWN WAY DIGITAL LTD"
        return
    # Each resource holds its newest event: its data (a delete keeps the last data, flagged deleted).
    [table] = {TABLE_OF_KIND[e["resource_kind"]] for e in events}
    stored = _rows(table)
    newest: dict[str, dict] = {}
    for event in events:
        newest[event["resource_id"]] = event
    assert set(stored) == set(newest)
    for resource_id, event in newest.items():
        row = stored[resource_id]
        assert row["stream_timepoint"] == event["event"]["timepoint"]
        assert row["company_number"] == _expected_number(event)
        assert row["resource_kind"] == event["resource_kind"]
        assert row["deleted"] == (event["event"]["type"] == "deleted")
        if event["event"]["type"] == "changed":
            assert row["data"] == event["data"]
        else:
            earlier = [e for e in events if e["resource_id"] == resource_id and "data" in e]
            assert row["data"] == (earlier[-1]["data"] if earlier else None)


def _line(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_replays_and_older_events_change_nothing(scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9", stream_type="company-officers")
    events = SAMPLES["company-officers"]
    write_batch(stream_id, [parse_line(_line(e)) for e in events])
    before = _rows("company_officers")
    # The same events again (a replay), then the oldest one under a newer event id: nothing moves back.
    write_batch(stream_id, [parse_line(_line(e)) for e in events])
    older = json.loads(json.dumps(events[1]))
    older["event"]["timepoint"] = events[0]["event"]["timepoint"] - 5
    write_batch(stream_id, [parse_line(_line(older))])
    assert _rows("company_officers") == before
    assert db.session.scalar(select(func.count()).select_from(StreamEvent)) == len(events) + 1
    # A newer change after a delete brings the resource back with the new data.
    revived = json.loads(json.dumps(events[0]))
    revived["event"]["timepoint"] = events[-1]["event"]["timepoint"] + 1
    revived["data"]["occupation"] = "Chair"
    write_batch(stream_id, [parse_line(_line(revived))])
    row = _rows("company_officers")[events[0]["resource_id"]]
    assert not row["deleted"] and row["data"]["occupation"] == "Chair"


def test_only_known_companies_unless_tracking_all(scoped, make_stream):
    stream_id = make_stream("http://127.0.0.1:9", stream_type="filing-history", track_all=False)
    db.session.add(Company(name="Mine", company_number="10676322"))
    db.session.commit()
    write_batch(stream_id, [parse_line(_line(e)) for e in SAMPLES["filing-history"]])
    assert {r["company_number"] for r in _rows("company_filings").values()} == {"10676322"}
    assert db.session.scalar(select(func.count()).select_from(StreamEvent)
                             .where(StreamEvent.processing_status == "processed")) == 4


@pytest.mark.parametrize("change, error", [
    ({"resource_uri": "/officers/abc/appointments"}, "resource_uri: '/officers/abc/appointments' does not name"),
    ({"resource_uri": None}, "resource_uri: required"),
    ({"resource_id": ""}, "resource_id: must be a string of 1 to 200 characters"),
    ({"resource_kind": "company-psc-martian"}, "resource_kind: 'company-psc-martian' is not a Companies House"),
    ({"data": "nope"}, "data: required on a 'changed' event"),
])
def test_bad_resource_events_fail_naming_the_field(change, error):
    event = {**SAMPLES["company-officers"][0], **change}
    row = parse_line(_line(event))
    assert row.status == "failed" and row.error.startswith(error)


def test_simulated_streams_serve_real_shapes_with_their_own_timepoints(simulator, make_stream, consumer):
    sim = simulator(backlog=150, pool=40, delete_rate=0.1)
    firsts = {sim.config.first(t) for t in STREAM_PATHS}
    assert len(firsts) == len(STREAM_PATHS)  # an independent sequence per stream
    stream_type = "company-psc-individual"
    first = sim.config.first(stream_type)
    stream_id = make_stream(sim.url, stream_type=stream_type, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + 149)
    events = db.session.scalars(select(StreamEvent)).all()
    assert len(events) == 150 and all(e.processing_status == "processed" and e.company_number for e in events)
    assert len({e.resource_kind for e in events}) >= 3  # several kinds on the PSC stream
    stored = _rows("company_pscs")
    latest: dict[str, StreamEvent] = {}
    for e in sorted(events, key=lambda e: e.timepoint):
        latest[e.event_data["resource_id"]] = e
    assert set(stored) == set(latest)
    for resource_id, e in latest.items():
        assert stored[resource_id]["stream_timepoint"] == e.timepoint
        assert stored[resource_id]["deleted"] == (e.event_type == "deleted")
