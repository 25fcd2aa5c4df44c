"""Report fixtures: a tenant with a member, and a factory for launched synthetic reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strata.reports import engine, service
from strata.tenancy.service import tenant_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def member(make_user, make_tenant):
    """A tenant and an admin member of it."""
    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    return tenant, user


def report_config(name="Load", source="synthetic", metric="days", filters=None, start="2026-01-05",
                  end="2026-02-01", segment="weekly", limit=2, retry=False, schedule=None, max_attempts=3,
                  backoff=0.05, timeout=300) -> dict:
    """A validated wizard configuration for a custom range (short back-offs, so retries are quick)."""
    return {"name": name, "data_source": source, "parameters": {"metric": metric, "filters": filters or {}},
            "lookback_config": {"type": "custom", "startDate": start, "endDate": end},
            "segmentation_config": {"type": segment, "parallel_limit": limit, "retry_failed": retry,
                                    "max_attempts": max_attempts, "backoff_seconds": backoff,
                                    "timeout_seconds": timeout},
            "schedule_config": schedule or {"frequency": "none"}}


@pytest.fixture
def launch(app):
    """Factory: create a report in `tenant` and launch its backfill; return (workflow id, collection id)."""

    def make(tenant, user=None, **config):
        user_id = user.id if user else None  # read outside the tenant: its role cannot read public.users
        with tenant_context(tenant.id):
            workflow, collection = service.create_report(report_config(**config), user_id)
            engine.launch(collection)
            return workflow.id, collection.id

    return make


class Workers:
    """Real `flask worker` processes on the backfills queue, stopped (or killed) by the test."""

    def __init__(self, app):
        self.env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL=app.config["REDIS_URL"], SECRET_KEY="x", PYTHONPATH=str(ROOT))
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int = 1, burst: bool = False) -> list[subprocess.Popen]:
        flask = Path(sys.executable).with_name("flask")
        args = [str(flask), "--app", "app:create_app", "worker", "--queues", "backfills"]
        if burst:
            args.append("--burst")
        started = [subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True) for _ in range(count)]
        self.procs += started
        return started

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its work horse (its whole process group)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


@pytest.fixture
def workers(app):
    pool = Workers(app)
    yield pool
    pool.stop()


def wait_for(predicate, timeout: float = 60, every: float = 0.2):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")
