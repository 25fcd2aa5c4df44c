"""The reading half of a consumer: one HTTP connection to the stream, lines into a bounded buffer.

The reader runs in its own thread so a slow database never stalls the socket and a slow socket never
stalls a write; it also parses, while the writer waits on the database. It puts lists of parsed rows
(`EventRow`) on a bounded queue (blocking when the writer falls
behind, which is the back-pressure), a `CONNECTED` marker once the server answered 200, and finally
one `Outcome` saying how the connection ended. A heartbeat only refreshes `last_data_at`.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import httpx

from strata.streams.protocol import LineAssembler, log_fragment, parse_line

CONNECTED = "connected"


@dataclass(frozen=True)
class Outcome:
    """How a connection ended: `eof`, `http` (status code), `timeout`, `transport`, `stopped`."""

    kind: str
    status: int | None = None
    detail: str = ""
    received: bool = False
    connected: bool = False  # the server answered 200


class Reader(threading.Thread):
    """Stream `url` (from `timepoint`, inclusive) into `out` until the server closes, an error, or `stop`."""

    def __init__(self, url: str, key: str, timepoint: int | None, out: queue.Queue, *,
                 read_timeout: float, connect_timeout: float = 10.0) -> None:
        super().__init__(daemon=True, name="stream-reader")
        self.url, self.key, self.timepoint, self.out = url, key, timepoint, out
        self.timeout = httpx.Timeout(connect_timeout, read=read_timeout)
        self.stop = threading.Event()
        self.last_data_at = time.monotonic()
        self.received = False
        self.connected = False
        self.last_timepoint = timepoint - 1 if timepoint is not None else None

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            outcome = self._stream()
        except httpx.TimeoutException as exc:
            outcome = Outcome("timeout", detail=f"no data, not even a heartbeat, within the {self.timeout.read:g} s "
                                                f"read deadline ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            outcome = Outcome("transport", detail=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - reported to the writer, which records it
            outcome = Outcome("transport", detail=f"{type(exc).__name__}: {exc}")
        if outcome.kind != "http":
            outcome = Outcome(outcome.kind, outcome.status, outcome.detail, self.received, self.connected)
        if not self.stop.is_set():
            self._put(outcome)
            return
        try:
            self.out.put_nowait(outcome)
        except queue.Full:
            pass  # the writer has stopped listening

    def _stream(self) -> Outcome:
        params = {"timepoint": str(self.timepoint)} if self.timepoint is not None else None
        headers = {"Accept": "application/json", "User-Agent": "strata-streams/1"}
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            with client.stream("GET", self.url, params=params, auth=(self.key, "")) as response:
                if response.status_code != 200:
                    body = response.read()[:500].decode("utf-8", errors="replace")
                    return Outcome("http", response.status_code, body.strip())
                self.connected = True
                if not self._put(CONNECTED):
                    return Outcome("stopped")
                assembler = LineAssembler()
                for chunk in response.iter_bytes():
                    self.last_data_at = time.monotonic()
                    rows = []
                    for line in assembler.feed(chunk):
                        if line.strip():
                            rows.append(row := parse_line(line, self.last_timepoint))
                            log_fragment(row)  # built here, while the writer waits on the database
                            self.last_timepoint = row.timepoint or self.last_timepoint
                    if rows:
                        self.received = True
                        if not self._put(rows):
                            return Outcome("stopped")
                    if self.stop.is_set():
                        return Outcome("stopped")
                cut = f"; {assembler.pending} bytes of an unfinished line dropped" if assembler.pending else ""
                return Outcome("eof", detail=f"server closed the stream{cut}")
