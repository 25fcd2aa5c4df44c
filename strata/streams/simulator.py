"""A local Companies House streaming API: the real protocol over HTTP, with faults on demand.

`flask streams simulate --port 5055` serves all nine streams; tests start `SimulatorServer` on a free port.
Each stream has its own timepoint sequence (company profiles from `first_timepoint`, the others from
their own bases, as on the real service) and serves the real resource shapes (see `fakedata`): the
PSC stream carries several resource kinds, the disqualified-officers stream natural and corporate
officers. `backlog` events of each stream exist at start and `rate` more appear every second.
`?timepoint=N` replays from N inclusive; without it the stream starts at the next new event.
Faults: a wrong key gets 401, a timepoint older than the `retention` window (or beyond the head) 416,
more than `max_connections` open streams 429; `disconnect_rate` ends a connection after an event,
`cut_rate` ends it in the middle of the next line, `duplicate_rate` sends an event twice,
`malformed_rate` adds a broken line, `delete_rate` publishes `deleted` events without `data`.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from strata.streams import fakedata
from strata.streams.models import STREAM_PATHS

KIND_OF_PATH = {path: kind for kind, path in STREAM_PATHS.items()}
# Where each stream's timepoints start (company profiles: `first_timepoint`); distinct, like the real streams'.
FIRST_TIMEPOINTS = {"filing-history": 3_210_000, "company-officers": 51_200_000, "company-psc-individual": 7_001_000,
                    "company-charges": 9_120_000, "company-insolvency": 4_400_000, "disqualified-officer-natural": 100,
                    "company-exemptions": 2_200_000, "company-psc-statement": 3_300_000}


@dataclass
class SimulatorConfig:
    """What the simulated API publishes and which faults it injects."""

    key: str = "demo-stream-key"
    seed: int = 2
    first_timepoint: int = 47_695_000
    backlog: int = 1000
    rate: float = 2.0
    pool: int = 5000
    heartbeat: float = 30.0
    retention: int = 1_000_000
    max_connections: int = 10
    disconnect_rate: float = 0.0
    cut_rate: float = 0.0
    duplicate_rate: float = 0.0
    malformed_rate: float = 0.0
    delete_rate: float = 0.02
    chunk_events: int = 200
    total: int | None = None  # stop publishing after this many events
    pregenerate: bool = False  # render the backlog lines once, up front (for benchmarks)…
    pregenerate_streams: tuple[str, ...] = tuple(STREAM_PATHS)  # …of these streams
    scripted: dict[str, list[dict]] = field(default_factory=dict)  # stream type → exact events to serve instead
    silent_after: int | None = None  # after this many events a connection goes silent mid-line (no heartbeat)
    started: float = field(default_factory=time.time)

    def first(self, stream_type: str = "company-profile") -> int:
        """Return the first timepoint of stream `stream_type`."""
        return FIRST_TIMEPOINTS.get(stream_type, self.first_timepoint)


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


class Simulator:
    """The WSGI application: one generator per open stream, counted against `max_connections`."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.open = 0
        self.requests = 0
        self.asked: deque[str | None] = deque(maxlen=10_000)  # each request's `timepoint`, newest last (tests)
        self.asked_at: deque[float] = deque(maxlen=10_000)  # when each of them came (time.monotonic())
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._rendered: dict[tuple[str, int], bytes] = {}
        if config.pregenerate:
            for kind in config.pregenerate_streams:
                first = config.first(kind)
                for tp in range(first, first + config.backlog):
                    self._rendered[kind, tp] = self._render(tp, kind)

    def _render(self, timepoint: int, kind: str) -> bytes:
        c = self.config
        return fakedata.event_line(c.seed, timepoint, c.pool, self.published(timepoint, kind), c.delete_rate, kind)

    def line(self, timepoint: int, kind: str) -> bytes:
        """Return the line of event `timepoint` of stream `kind`."""
        line = self._rendered.get((kind, timepoint))
        return line if line is not None else self._render(timepoint, kind)

    def head(self, kind: str = "company-profile") -> int:
        """Return the newest published timepoint of stream `kind` (its first - 1 while nothing exists)."""
        c = self.config
        published = c.backlog + int(max(0.0, time.time() - c.started) * c.rate)
        if c.total is not None:
            published = min(published, c.total)
        return c.first(kind) + published - 1

    def oldest(self, kind: str = "company-profile") -> int:
        """Return the oldest timepoint of stream `kind` still retained."""
        return max(self.config.first(kind), self.head(kind) - self.config.retention + 1)

    def published(self, timepoint: int, kind: str = "company-profile") -> datetime:
        """Return when `timepoint` was published (backlog spread over the past; live in real time)."""
        c = self.config
        offset = timepoint - c.first(kind) - c.backlog
        seconds = offset / c.rate if c.rate > 0 else offset * 0.5
        jitter = -3 if (timepoint * 2_654_435_761) % 97 == 0 else 0  # published_at can go backwards
        start = datetime.fromtimestamp(c.started, UTC).replace(tzinfo=None)
        return start + timedelta(seconds=seconds + jitter)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.requests += 1
        response = self._answer(request)
        return response(environ, start_response)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.config.key

    def _answer(self, request: Request) -> Response:
        kind = KIND_OF_PATH.get(request.path.rstrip("/"))
        if kind is None:
            return _json(404, {"error": "Not Found", "type": "ch:service"})
        if not self._authorised(request):
            return _json(401, {"error": "Invalid Authorization", "type": "ch:service"})
        raw = request.args.get("timepoint")
        with self._lock:
            self.asked.append(raw)
            self.asked_at.append(time.monotonic())
        if kind in self.config.scripted:
            return self._scripted(kind, raw)
        head = self.head(kind)
        if raw is None:
            start = head + 1
        elif not raw.isdigit() or not self.oldest(kind) <= int(raw) <= head + 1:
            return _json(416, {"error": "Requested Range Not Satisfiable: timepoint out of range",
                               "type": "ch:service"})
        else:
            start = int(raw)
        with self._lock:
            if self.open >= self.config.max_connections:
                return _json(429, {"error": "Too Many Requests", "type": "ch:service"})
            self.open += 1
        return Response(self._body(start, kind), 200, content_type="application/json", direct_passthrough=True)

    def _scripted(self, kind: str, raw: str | None) -> Response:
        """Serve the scripted events of `kind` from timepoint `raw` (all without one), then heartbeats."""
        start = int(raw) if raw and raw.isdigit() else 0
        lines = b"".join(json.dumps(e).encode() + b"\n" for e in self.config.scripted[kind]
                         if e["event"]["timepoint"] >= start)

        def body():
            yield from _chunks(lines, random.Random())
            while not self.stopping.wait(self.config.heartbeat):
                yield b"\n"

        return Response(body(), 200, content_type="application/json", direct_passthrough=True)

    def _lines(self, start: int, end: int, kind: str, rng: random.Random) -> tuple[bytes, bool]:
        """Return the lines of timepoints start..end, and whether the connection should end after them."""
        c, out = self.config, []
        for tp in range(start, end + 1):
            line = self.line(tp, kind)
            fate = random.Random(c.seed * 31 + tp).random()
            out.append(line)
            if fate < c.duplicate_rate:
                out.append(line)
            if 1 - fate < c.malformed_rate:
                out.append(line[: len(line) // 3].rstrip(b"\n") + b"\n")
            if rng.random() < c.disconnect_rate:
                data = b"".join(out)
                if rng.random() < c.cut_rate:
                    nxt = self.line(tp + 1, kind)
                    data += nxt[: rng.randrange(1, len(nxt) - 1)]
                return data, True
        return b"".join(out), False

    def _body(self, start: int, kind: str):
        rng = random.Random()
        position, last_sent, sent = start, time.monotonic(), 0
        try:
            while not self.stopping.is_set():
                head = self.head(kind)
                if self.config.silent_after is not None and sent >= self.config.silent_after:
                    yield from self._fall_silent(position, kind)
                    return
                if position <= head:
                    end = min(head, position + self.config.chunk_events - 1)
                    if self.config.silent_after is not None:
                        end = min(end, position + self.config.silent_after - sent - 1)
                    sent += end - position + 1
                    data, stop = self._lines(position, end, kind, rng)
                    yield from _chunks(data, rng)
                    last_sent = time.monotonic()
                    if stop:
                        return
                    position = end + 1
                    continue
                if time.monotonic() - last_sent >= self.config.heartbeat:
                    yield b"\n"
                    last_sent = time.monotonic()
                self.stopping.wait(min(0.05, self.config.heartbeat))
        finally:
            with self._lock:
                self.open -= 1

    def _fall_silent(self, position: int, kind: str):
        """Send half of the next line, then nothing at all (not even heartbeats) until the client gives up."""
        line = self.line(position, kind)
        yield line[: len(line) // 2]
        self.stopping.wait(60)  # ends with the server, or after a minute of silence


def _chunks(data: bytes, rng: random.Random):
    """Yield `data` in pieces of random size that ignore line boundaries."""
    at = 0
    while at < len(data):
        size = rng.randrange(512, 16384)
        yield data[at: at + size]
        at += size


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class SimulatorServer:
    """The simulator on a real socket, served by threads; a context manager for tests."""

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 quiet: bool = True) -> None:
        self.simulator = Simulator(config or SimulatorConfig())
        self.server = make_server(host, port, self.simulator, threaded=True,
                                  request_handler=_QuietHandler if quiet else None)
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="stream-simulator")

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config

    def start(self) -> SimulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.simulator.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        try:
            self.server.serve_forever()
        finally:
            self.simulator.stopping.set()
            self.server.server_close()
