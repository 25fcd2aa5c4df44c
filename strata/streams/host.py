"""Many stream consumers in one process: a host claims streams through their Redis locks and runs each in a thread.

The streams to run are the Redis set `wanted` (`<tenant id>:<stream id>` of every enabled stream, kept by
the supervisor and by Start/Stop). A host (the long-running job `streams.host`, or `flask streams host`)
holds the lock of its slot, and every `scan_interval` seconds starts a consumer thread for each wanted
stream whose consumer lock is free, up to `capacity`; the consumer then takes that lock itself, so two
hosts never run the same stream. Each consumer keeps its own session and writes its own checkpointing
transactions. A consumer that ends because its stream was stopped, its key rejected or a resync is needed
leaves the wanted set; one that ends otherwise (lock lost, a crash) is started again on a later scan.
The host stops every consumer and ends when told to, when its own lock is lost, or when the worker
process that started it is gone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from redis.exceptions import LockError

from strata.core import queues
from strata.db import db
from strata.streams.consumer import Consumer, ConsumerSettings, lock_name

log = logging.getLogger(__name__)
WANTED = "strata:streams:wanted"
FINAL = ("disabled", "unauthorized", "resync")


def host_lock_name(slot: int) -> str:
    """Return the Redis key of the lock held by the host of `slot`."""
    return f"strata:streams:host:{slot}"


def member(tenant_id: int, stream_id: int) -> str:
    """Return the wanted-set member of one stream."""
    return f"{tenant_id}:{stream_id}"


def _parse(raw: bytes | str) -> tuple[int, int] | None:
    tenant, _, stream = (raw.decode() if isinstance(raw, bytes) else raw).partition(":")
    return (int(tenant), int(stream)) if tenant.isdigit() and stream.isdigit() else None


@dataclass
class _Running:
    thread: threading.Thread
    stop: threading.Event
    reason: str | None = None
    started: float = field(default_factory=time.monotonic)


class Host:
    """Run the consumers of up to `capacity` wanted streams in this process until stopped."""

    def __init__(self, app, slot: int = 0, capacity: int = 500, settings: ConsumerSettings | None = None,
                 stop: threading.Event | None = None, scan_interval: float = 1.0,
                 parent_pid: int | None = None) -> None:
        self.app, self.slot, self.capacity = app, slot, capacity
        self.settings = settings or ConsumerSettings.from_config(app.config)
        self.stop = stop or threading.Event()
        self.scan_interval, self.parent_pid = scan_interval, parent_pid
        self.running: dict[tuple[int, int], _Running] = {}
        self.retry_at: dict[tuple[int, int], float] = {}
        ttl = self.settings.lock_ttl
        self.lock = queues.connection.lock(host_lock_name(slot), timeout=ttl, blocking=False, thread_local=False)

    def run(self) -> str:
        """Host consumers until stopped; return why the host ended (`stopped`, `locked`, `orphaned`, `lock lost`)."""
        if not self.lock.acquire():
            return "locked"
        reason = "stopped"
        next_renew = 0.0
        try:
            while not self.stop.is_set():
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    reason = "orphaned"
                    break
                if time.monotonic() >= next_renew:
                    self.lock.reacquire()
                    next_renew = time.monotonic() + self.settings.lock_ttl / 3
                self._reap()
                self._claim()
                self.stop.wait(self.scan_interval)
        except LockError:
            reason = "lock lost"
        finally:
            self._stop_all()
            try:
                self.lock.release()
            except LockError:
                pass
        log.info("stream host %s ended: %s", self.slot, reason)
        return reason

    # --- the scan ----------------------------------------------------------------------------------------------

    def _reap(self) -> None:
        """Forget finished consumers; a stream that ended for good leaves the wanted set."""
        for key, running in list(self.running.items()):
            if running.thread.is_alive():
                continue
            del self.running[key]
            if running.reason in FINAL and not self._enabled(key):
                queues.connection.srem(WANTED, member(*key))
            elif running.reason in FINAL:  # started again while this consumer was ending
                continue
            else:  # lock lost, a crash: try again after a pause
                self.retry_at[key] = time.monotonic() + max(1.0, self.settings.error_wait)

    def _enabled(self, key: tuple[int, int]) -> bool:
        """Return whether the stream is (again) enabled and not waiting for a resync."""
        from strata.errors import NotFound
        from strata.streams import status
        from strata.tenancy.service import tenant_context

        with self.app.app_context():
            try:
                with tenant_context(key[0]):
                    return status.is_enabled(key[1])
            except NotFound:
                return False
            finally:
                db.session.remove()

    def _claim(self) -> None:
        """Start a consumer for each wanted stream whose lock is free, while there is room."""
        room = self.capacity - len(self.running)
        if room <= 0:
            return
        now = time.monotonic()
        candidates = [key for raw in queues.connection.smembers(WANTED) if (key := _parse(raw)) is not None
                      and key not in self.running and self.retry_at.get(key, 0) <= now]
        if not candidates:
            return
        pipe = queues.connection.pipeline(transaction=False)
        for tenant_id, stream_id in candidates:
            pipe.exists(lock_name(tenant_id, stream_id))
        for key, held in zip(candidates, pipe.execute(), strict=True):
            if held or room <= 0:
                continue
            self._start(key)
            room -= 1

    def _start(self, key: tuple[int, int]) -> None:
        running = _Running(threading.Thread(target=self._consume, args=(key,), daemon=True,
                                            name=f"stream-{key[0]}-{key[1]}"), threading.Event())
        self.running[key] = running
        self.retry_at.pop(key, None)
        running.thread.start()

    def _consume(self, key: tuple[int, int]) -> None:
        from strata.errors import NotFound
        from strata.tenancy.service import tenant_context

        running = self.running[key]
        tenant_id, stream_id = key
        try:
            with self.app.app_context():
                try:
                    with tenant_context(tenant_id):
                        running.reason = Consumer(stream_id, self.settings, running.stop).run()
                finally:
                    db.session.remove()
        except NotFound:  # the tenant is gone
            running.reason = "disabled"
        except Exception:  # noqa: BLE001 - one stream's failure must not end the others; it is retried
            log.exception("stream %s of tenant %s: consumer failed", stream_id, tenant_id)
            running.reason = "failed"

    def _stop_all(self) -> None:
        for running in self.running.values():
            running.stop.set()
        deadline = time.monotonic() + 15
        for running in self.running.values():
            running.thread.join(max(0.1, deadline - time.monotonic()))
        self.running.clear()
