"""Fixtures for stream tests: a tenant, a simulator on a free port, a configured stream, a consumer thread."""

from __future__ import annotations

import threading
import time

import pytest

from strata.db import db
from strata.streams import service
from strata.streams.consumer import Consumer, ConsumerSettings
from strata.streams.simulator import SimulatorConfig, SimulatorServer
from strata.tenancy.service import tenant_context

FAST = ConsumerSettings(error_wait=0.2, rate_limit_wait=0.5, max_wait=1.0, reconnect_wait=0.05,
                        check_interval=0.2, flush_interval=0.05, lock_ttl=5)


@pytest.fixture
def admin(make_user):
    return make_user(name="Ada Admin")


@pytest.fixture
def tenant(make_tenant, admin):
    return make_tenant(members={admin: "admin"})


@pytest.fixture
def tenant_id(tenant) -> int:
    """The tenant's id, read outside any tenant scope (the tenants table is not the tenant's)."""
    return tenant.id


@pytest.fixture
def scoped(tenant_id, admin_id):
    with tenant_context(tenant_id) as scope:
        yield scope


@pytest.fixture
def simulator():
    """Factory: start a simulator with `SimulatorConfig(**options)`; all are stopped after the test."""
    started: list[SimulatorServer] = []

    def start(**options) -> SimulatorServer:
        options.setdefault("rate", 0)
        server = SimulatorServer(SimulatorConfig(**options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def admin_id(admin, tenant_id) -> int:
    """The admin's id, read outside any tenant scope (the users table is not the tenant's)."""
    return admin.id


@pytest.fixture
def make_stream(admin_id, scoped):
    """Factory: configure an enabled stream (company profiles unless `stream_type` says) reading from `url`."""

    def make(url: str, key: str = "demo-stream-key", track_all: bool = True, last_timepoint: int | None = None,
             stall: int = 600, stream_type: str = "company-profile"):
        stream = service.create_stream({"stream_type": stream_type, "base_url": url, "stream_key": key,
                                        "track_all": "on" if track_all else "", "stall_after_seconds": str(stall)},
                                       admin_id)
        stream.enabled = True
        stream.last_timepoint = last_timepoint
        db.session.commit()
        return stream.id

    return make


class ConsumerThread:
    """A consumer running in a thread of the test process, inside the tenant's context."""

    def __init__(self, app, tenant_id: int, stream_id: int, settings: ConsumerSettings) -> None:
        self.app, self.tenant_id, self.stream_id, self.settings = app, tenant_id, stream_id, settings
        self.stop = threading.Event()
        self.reason: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.app_context(), tenant_context(self.tenant_id):
            self.reason = Consumer(self.stream_id, self.settings, self.stop).run()
            db.session.remove()

    def __enter__(self) -> ConsumerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "consumer did not stop"

    def wait(self, timeout: float = 20) -> str | None:
        self.thread.join(timeout)
        return self.reason


@pytest.fixture
def consumer(app, tenant_id):
    """Factory: run the consumer of `stream_id` in a thread (a context manager that stops it)."""

    def make(stream_id: int, settings: ConsumerSettings = FAST) -> ConsumerThread:
        return ConsumerThread(app, tenant_id, stream_id, settings)

    return make


def wait_for(predicate, timeout: float = 20, interval: float = 0.1):
    """Poll `predicate` (in a fresh transaction each time) until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
