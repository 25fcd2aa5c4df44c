"""The wire format (line reassembly, reading a line into an event row) and the simulator's options one by one."""

import time

import httpx
import pytest

from strata.streams.models import STREAM_PATHS
from strata.streams.protocol import LineAssembler, parse_line
from strata.streams.resources import STREAM_KINDS
from strata.streams.simulator import SimulatorConfig, SimulatorServer

KEY = ("demo-stream-key", "")


def test_lines_are_reassembled_across_chunks_and_a_cut_line_stays_pending():
    assembler = LineAssembler()
    assert assembler.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert assembler.pending == 4
    assert assembler.feed(b":2}\n\n") == [b'{"b":2}', b""]  # the bare newline is a heartbeat
    assert assembler.feed(b'{"c":') == [] and assembler.pending == 5  # dropped at a disconnect, replayed later


def _line(event: str, data: str | None = None) -> bytes:
    return (f'{{"resource_kind":"company-profile","resource_id":"15893094","event":{event}{data or ""}}}').encode()


@pytest.mark.parametrize("line, error", [
    (b'{"event": {"timepoint": 5', "Malformed line: Expecting"),
    (b'[1, 2]', "Malformed line: event: missing"),
    (_line('{"type":"changed"}'), "Malformed line: event.timepoint: must be a positive whole number"),
    (_line('{"timepoint":0,"type":"changed"}'), "event.timepoint: must be a positive whole number"),
    (_line('{"timepoint":"7","type":"changed"}'), "event.timepoint: must be a positive whole number"),
    (b'\xff\xfe{}', "Malformed line: 'utf-8' codec"),
])
def test_unreadable_lines_become_failed_malformed_rows(line, error):
    row = parse_line(line, after_timepoint=41)
    assert (row.event_type, row.status, row.timepoint) == ("malformed", "failed", None)
    assert row.error.startswith(error) or error in row.error
    assert row.event_id.startswith("malformed:41:") and row.event_id == parse_line(line, 41).event_id


@pytest.mark.parametrize("event, data, error", [
    ('{"timepoint":7,"type":"changed"}', None, "data: required on a 'changed' event"),
    ('{"timepoint":7,"type":"changed"}', ',"data":{"company_number":"15893094"}', "data.company_name: required"),
    ('{"timepoint":7,"type":"changed"}',
     ',"data":{"company_name":"X","company_number":"15893094","date_of_creation":"2024-13-01"}',
     "data.date_of_creation: '2024-13-01' is not a date (YYYY-MM-DD)"),
    ('{"timepoint":7,"type":"changed"}', ',"data":{"company_name":"X","sic_codes":"62012"}',
     "data.sic_codes: must be a list"),
    ('{"timepoint":7,"type":"changed","published_at":"yesterday"}', None,
     "event.published_at: 'yesterday' is not a date-time"),
    ('{"timepoint":7,"type":"merged"}', None, "event.type: 'merged' is neither 'changed' nor 'deleted'"),
])
def test_events_that_cannot_be_applied_are_failed_with_the_field_named(event, data, error):
    row = parse_line(_line(event, data))
    assert (row.timepoint, row.event_id, row.status, row.error) == (7, "7", "failed", error)


def test_deleted_event_without_data_is_processed_and_published_at_has_no_zone():
    row = parse_line(_line('{"timepoint":9,"type":"deleted","published_at":"2024-06-27T17:14:02"}', None))
    assert (row.status, row.deleted, row.profile, row.company_number) == ("processed", True, {}, "15893094")
    assert row.published_at.isoformat() == "2024-06-27T17:14:02"


@pytest.fixture
def serve():
    started: list[SimulatorServer] = []

    def start(**options) -> SimulatorServer:
        started.append(server := SimulatorServer(SimulatorConfig(**options)).start())
        return server

    yield start
    for server in started:
        server.stop()


def _read(url: str, lines: int, **params) -> list[bytes]:
    """Return the first `lines` lines (heartbeats included) of a stream."""
    body = b""
    with httpx.stream("GET", url, params=params, auth=KEY, timeout=5) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            body += chunk
            if body.count(b"\n") >= lines:
                break
    return body.split(b"\n")[:lines]


def test_rate_publishes_new_events_each_second(serve):
    sim = serve(backlog=0, rate=5, started=time.time() - 10)
    assert sim.simulator.head() == sim.config.first_timepoint + 49


def test_heartbeat_is_a_bare_newline_while_nothing_is_published(serve):
    sim = serve(backlog=0, rate=0, heartbeat=0.05)
    started = time.monotonic()
    assert _read(f"{sim.url}/companies", 5) == [b""] * 5
    assert time.monotonic() - started >= 0.2


def test_duplicates_send_an_event_twice(serve):
    sim = serve(backlog=5, rate=0, duplicate_rate=1.0)
    lines = _read(f"{sim.url}/companies", 10, timepoint=sim.config.first_timepoint)
    assert lines[0::2] == lines[1::2]
    assert [parse_line(line).timepoint for line in lines[0::2]] == list(range(sim.config.first_timepoint,
                                                                               sim.config.first_timepoint + 5))


def test_retention_window_answers_416_outside_it(serve):
    sim = serve(backlog=500, rate=0, retention=100)
    first, head = sim.config.first_timepoint, sim.simulator.head()
    for timepoint in (first, head - 100, head + 2, "soon"):
        response = httpx.get(f"{sim.url}/companies", params={"timepoint": timepoint}, auth=KEY)
        assert response.status_code == 416 and response.json()["type"] == "ch:service"
    assert parse_line(_read(f"{sim.url}/companies", 1, timepoint=head - 99)[0]).timepoint == head - 99


def test_max_connections_answers_429_until_one_closes(serve):
    sim = serve(backlog=0, rate=0, heartbeat=0.05, max_connections=1)
    with httpx.stream("GET", f"{sim.url}/companies", auth=KEY, timeout=5) as first:
        assert first.status_code == 200
        refused = httpx.get(f"{sim.url}/companies", auth=KEY)
        assert refused.status_code == 429 and refused.json() == {"error": "Too Many Requests", "type": "ch:service"}
    deadline = time.monotonic() + 5
    while sim.simulator.open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _read(f"{sim.url}/companies", 1) == [b""]


def test_unknown_path_is_404_and_every_stream_path_is_served(serve):
    sim = serve(backlog=3, rate=0)
    assert httpx.get(f"{sim.url}/nope", auth=KEY).status_code == 404
    for stream_type, path in STREAM_PATHS.items():
        line = _read(f"{sim.url}{path}", 1, timepoint=sim.config.first(stream_type))[0]
        row = parse_line(line)
        assert row.timepoint == sim.config.first(stream_type) and row.status == "processed", row.error
        assert row.resource_kind in STREAM_KINDS[stream_type]
