"""The consumer of one stream: connect, read, write in batches with the checkpoint, back off, repeat.

It runs inside the tenant's context (an RQ job on the `streams` queue, or `flask streams consume`),
holds a Redis lock with a heartbeat TTL so only one consumer per stream runs, and resumes at the
checkpoint + 1 because the API's replay includes the timepoint asked for. Waits follow the API's
rules: at least 60 s after 429, at least 10 s after other failures, doubling up to a cap, with jitter.
401 disables the stream; 416 stops it with "resync needed" for the admin (never a silent jump to live).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass

from redis.exceptions import LockError
from sqlalchemy import select

from strata.core import queues
from strata.db import current_scope, db
from strata.streams import status
from strata.streams.ingest import write_batch
from strata.streams.models import StreamMetadata
from strata.streams.protocol import EventRow
from strata.streams.reader import CONNECTED, Outcome, Reader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerSettings:
    """Timing and sizing of a consumer; the defaults follow the streaming API's rules."""

    read_timeout: float = 65.0  # the read deadline: about twice the ~30 s heartbeat, so silence means a dead link
    error_wait: float = 10.0  # at least this long after a failure other than 429
    rate_limit_wait: float = 60.0  # at least this long after 429
    max_wait: float = 300.0
    reconnect_wait: float = 0.5  # after a connection that delivered events and then closed
    batch_size: int = 1000
    flush_interval: float = 0.25
    buffer_chunks: int = 256  # bounded buffer between reader and writer (lists of lines)
    check_interval: float = 2.0  # lock heartbeat, enabled flag, stall alarm
    lock_ttl: int = 15  # the lock is the heartbeat: a dead consumer's stream shows as not running after this
    parent_pid: int | None = None  # stop when this process (the worker that started us) is gone

    @classmethod
    def from_config(cls, config, **overrides) -> ConsumerSettings:
        """Return the settings from the app config (`STREAMS_READ_DEADLINE`, `STREAMS_LOCK_TTL`) and `overrides`."""
        ttl = int(config.get("STREAMS_LOCK_TTL", cls.lock_ttl))
        values = {"read_timeout": float(config.get("STREAMS_READ_DEADLINE", cls.read_timeout)), "lock_ttl": ttl,
                  "check_interval": min(cls.check_interval, ttl / 3)}
        return cls(**{**values, **overrides})


def backoff(attempt: int, floor: float, cap: float, rng: random.Random | None = None) -> float:
    """Return the wait before retry `attempt` (1-based): floor·2^(attempt-1), capped, plus up to 20 % jitter."""
    base = min(cap, floor * 2 ** max(0, attempt - 1))
    return max(floor, base) * (1 + 0.2 * (rng or random).random())


def lock_name(tenant_id: int, stream_id: int) -> str:
    """Return the Redis key of the lock held by the consumer of one stream."""
    return f"strata:streams:consumer:{tenant_id}:{stream_id}"


class Consumer:
    """Consume stream `stream_id` of the current tenant until stopped, disabled, or a fatal answer."""

    def __init__(self, stream_id: int, settings: ConsumerSettings | None = None,
                 stop: threading.Event | None = None) -> None:
        self.stream_id = stream_id
        self.settings = settings or ConsumerSettings()
        self.stop = stop or threading.Event()
        scope = current_scope()
        if scope is None:
            raise RuntimeError("a consumer runs inside a tenant context")
        self.lock = queues.connection.lock(lock_name(scope.tenant_id, stream_id), timeout=self.settings.lock_ttl,
                                           blocking=False, thread_local=False)
        self.attempt = 0
        self.events = 0
        self._next_check = 0.0

    # --- the loop ---------------------------------------------------------------------------------------------

    def run(self) -> str:
        """Consume until told to stop; return why it stopped (`locked`, `stopped`, `disabled`, `unauthorized`…)."""
        if not self.lock.acquire():
            return "locked"
        self.keeper = _LockKeeper(self.lock, self.settings.lock_ttl / 3)
        self.keeper.start()
        reason = "stopped"
        try:
            while not self.stop.is_set():
                stream = self._load()
                if stream is None or not stream.enabled or stream.resync_needed:
                    reason = "disabled"
                    break
                outcome = self._connection(stream)
                wait = self._after(stream, outcome)
                if wait is None:
                    reason = {401: "unauthorized", 416: "resync"}.get(outcome.status, outcome.kind)
                    break
                if self._orphaned():
                    reason = "orphaned"
                    break
                self._sleep(wait)
        except LockError:
            reason = "lock lost"
        finally:
            self.keeper.done.set()
            self.keeper.join(5)
            db.session.rollback()
            if reason in ("stopped", "disabled", "lock lost", "orphaned"):
                status.mark_disconnected(self.stream_id)
            try:
                self.lock.release()
            except LockError:
                pass
        log.info("stream %s consumer stopped: %s after %s events", self.stream_id, reason, self.events)
        return reason

    def _load(self) -> StreamMetadata | None:
        db.session.rollback()
        stream = db.session.scalar(select(StreamMetadata).where(StreamMetadata.id == self.stream_id))
        if stream is not None:
            db.session.expunge(stream)
        db.session.rollback()
        return stream

    def _connection(self, stream: StreamMetadata) -> Outcome:
        """Read one connection to its end, writing batches as they fill; return how it ended."""
        buffer: queue.Queue = queue.Queue(maxsize=self.settings.buffer_chunks)
        start = stream.last_timepoint + 1 if stream.last_timepoint is not None else None
        reader = Reader(stream.url, stream.stream_key, start, buffer, read_timeout=self.settings.read_timeout)
        reader.start()
        rows: list[EventRow] = []
        first_at = 0.0
        stall = _Stall(stream.stall_after_seconds)
        try:
            while True:
                try:
                    item = buffer.get(timeout=self.settings.flush_interval)
                except queue.Empty:
                    item = None
                if isinstance(item, Outcome):
                    self._flush(rows)
                    return item
                if item == CONNECTED:
                    status.mark_connected(self.stream_id)
                    self.attempt = 0
                elif item:
                    first_at = first_at or time.monotonic()
                    rows.extend(item)
                    stall.saw_event()
                if rows and (len(rows) >= self.settings.batch_size
                             or time.monotonic() - first_at >= self.settings.flush_interval):
                    self._flush(rows)
                    first_at = 0.0
                if self._due() and not self._still_wanted(stall):
                    self._flush(rows)
                    return Outcome("stopped")
        finally:
            reader.stop.set()

    def _flush(self, rows: list[EventRow]) -> None:
        if not rows:
            return
        try:
            write_batch(self.stream_id, rows)
        except Exception:
            db.session.rollback()
            log.exception("stream %s: batch of %s rows failed; writing one by one", self.stream_id, len(rows))
            for row in rows:
                status.write_single(self.stream_id, row)
        self.events += len(rows)
        rows.clear()

    def _due(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.settings.check_interval
        return True

    def _orphaned(self) -> bool:
        """Return whether the worker process that started this consumer is gone (we were re-parented)."""
        return self.settings.parent_pid is not None and os.getppid() != self.settings.parent_pid

    def _still_wanted(self, stall: _Stall) -> bool:
        """Check the lock is still ours and re-read the enabled flag; raise the stall alarm once when due."""
        if self.stop.is_set() or self._orphaned():
            return False
        self.keeper.check()
        if stall.due():
            status.record_stall(self.stream_id, stall.after)
        return status.is_enabled(self.stream_id)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.stop.wait(min(left, self.settings.check_interval))
            self.keeper.check()
            if self._orphaned() or not status.is_enabled(self.stream_id):
                return

    # --- what an ending means -------------------------------------------------------------------------------

    def _after(self, stream: StreamMetadata, outcome: Outcome) -> float | None:
        """Record how the connection ended; return the wait before reconnecting, None to stop for good."""
        s = self.settings
        if outcome.kind == "stopped":
            return 0.0
        if outcome.kind == "http" and outcome.status == 401:
            status.unauthorized(self.stream_id, stream.url, outcome.detail)
            return None
        if outcome.kind == "http" and outcome.status == 416:
            status.resync_needed(self.stream_id, stream.last_timepoint)
            return None
        if (outcome.received and outcome.kind in ("eof", "transport")
                or outcome.kind == "timeout" and outcome.connected):
            # A connection that delivered events and then closed, broke or fell silent past the read
            # deadline is replaced at once, from the checkpoint + 1.
            self.attempt = 0
            status.disconnected(self.stream_id, outcome.detail, error=outcome.kind != "eof")
            return s.reconnect_wait * (1 + random.random())
        self.attempt += 1
        floor = s.rate_limit_wait if outcome.status == 429 else s.error_wait
        wait = backoff(self.attempt, floor, max(s.max_wait, floor))
        status.failed(self.stream_id, _describe(outcome, stream.url), wait)
        return wait


class _LockKeeper(threading.Thread):
    """Renews the consumer's lock every `interval` seconds for as long as the process lives (the heartbeat)."""

    def __init__(self, lock, interval: float) -> None:
        super().__init__(daemon=True, name="stream-lock")
        self.lock, self.interval = lock, interval
        self.done = threading.Event()
        self.lost: LockError | None = None

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                self.lock.reacquire()
            except LockError as exc:
                self.lost = exc
                return

    def check(self) -> None:
        """Raise the LockError if another consumer may have taken over."""
        if self.lost is not None:
            raise self.lost


class _Stall:
    """The stall alarm: fires once when no event arrived for `after` seconds."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.last = time.monotonic()
        self.fired = False

    def saw_event(self) -> None:
        self.last, self.fired = time.monotonic(), False

    def due(self) -> bool:
        if self.fired or time.monotonic() - self.last < self.after:
            return False
        self.fired = True
        return True


def _describe(outcome: Outcome, url: str) -> str:
    if outcome.kind == "http" and outcome.status == 429:
        return "Rate limited (429): too many connections or requests for this key"
    if outcome.kind == "http":
        return f"HTTP {outcome.status} from {url}: {outcome.detail[:200] or 'no details'}"
    if outcome.kind == "timeout":
        return f"Read timeout: {outcome.detail}"
    if outcome.kind == "eof":
        return "The server closed the stream before sending any event"
    return f"Connection failed: {outcome.detail[:300]}"
