"""Streams benchmark: catch-up of a 200k-event backlog from the simulator into PostgreSQL, against COPY.

A simulator (`flask streams simulate --pregenerate`, its own process) publishes N company-profile
events (default 200,000) about 50,000 companies. A consumer process (`flask streams consume`, the code
the RQ job runs) reads them from the first timepoint with "track all companies" on, writing the log rows,
the company upserts and the checkpoint in batches of 5,000. It prints:

- catch-up rate: events/s from the consumer's start until the checkpoint reaches the last timepoint;
- COPY rate: the same log rows and company rows exported, the tables emptied, then loaded again with
  `COPY … FROM STDIN` (with the same indexes): events/s, and the ratio catch-up / COPY (target ≥ 0.25);
- the consumer's peak RSS (VmHWM; target < 500 MB).

The tenant is dropped at the end, also on failure. Run: `python bench/streams.py [--events N]`.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import app_config, migrate_public, servers, verdict  # noqa: E402
from strata.db import db  # noqa: E402
from strata.streams import service  # noqa: E402
from strata.streams.simulator import SimulatorConfig  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, tenant_context  # noqa: E402

RATIO_TARGET, RSS_TARGET_MB = 0.25, 500
FIRST = SimulatorConfig().first_timepoint
LOG_COLUMNS = ("stream_id, event_id, timepoint, resource_kind, event_type, company_number, event_data, "
               "published_at, processing_status, error_message, received_at, processed_at")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _flask(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_port(port: int, process: subprocess.Popen, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the simulator exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the simulator did not start")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def catch_up(app, env: dict, slug: str, tenant_id: int, stream_id: int, events: int) -> tuple[float, float]:
    """Run the consumer process until the checkpoint reaches the last event; return (seconds, peak RSS MB)."""
    started = time.perf_counter()
    consumer = _flask(env, "streams", "consume", slug, str(stream_id), "--batch-size", "5000")
    try:
        with app.app_context(), tenant_context(tenant_id):
            while True:
                last = db.session.scalar(text("SELECT last_timepoint FROM stream_metadata WHERE id = :id"),
                                         {"id": stream_id})
                db.session.rollback()
                if last == FIRST + events - 1:
                    break
                if consumer.poll() is not None:
                    raise SystemExit(f"the consumer exited early at timepoint {last}")
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss = _peak_rss_mb(consumer.pid)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(30)
    return elapsed, rss


def copy_rate(app, tenant_id: int, events: int) -> float:
    """Export the logged rows and companies, empty both tables, COPY them back in; return events/s."""
    with app.app_context(), tenant_context(tenant_id):
        raw = db.session.connection().connection.driver_connection
        db.session.execute(text("SELECT 1"))  # applies the tenant scope to this transaction
        buffers = {}
        with raw.cursor() as cur:
            for table, columns in (("companies", "*"), ("stream_events_log", LOG_COLUMNS)):
                out = io.BytesIO()
                with cur.copy(f"COPY (SELECT {columns} FROM {table}) TO STDOUT") as copy:  # noqa: S608
                    for data in copy:
                        out.write(data)
                buffers[table] = out.getvalue()
            cur.execute("TRUNCATE stream_events_log, companies CASCADE")
        db.session.commit()
        db.session.execute(text("SELECT 1"))
        started = time.perf_counter()
        with raw.cursor() as cur:
            for table, columns in (("companies", None), ("stream_events_log", LOG_COLUMNS)):
                target = f"{table} ({columns})" if columns else table
                with cur.copy(f"COPY {target} FROM STDIN") as copy:
                    copy.write(buffers[table])
        db.session.commit()
        return events / (time.perf_counter() - started)


def run(events: int) -> None:
    with servers("strata_bench_streams") as srv:
        app = create_app(app_config(srv))
        version = migrate_public(app)
        slug = f"bench_{secrets.token_hex(3)}"
        env = dict(os.environ, DATABASE_URL=srv.database_url, REDIS_URL=srv.redis_url, SECRET_KEY="bench",
                   PYTHONPATH=str(REPO))
        port = _free_port()
        print(f"Streams benchmark on PostgreSQL {version} ({srv.label}); {events:,} events")
        simulator = _flask(env, "streams", "simulate", "--port", str(port), "--backlog", str(events), "--rate", "0",
                           "--pool", "50000", "--pregenerate", "--heartbeat", "5")
        try:
            with app.app_context():
                tenant = create_tenant(slug, "Streams bench")
                with tenant_context(tenant.id):
                    stream = service.create_stream({"stream_type": "company-profile",
                                                    "base_url": f"http://127.0.0.1:{port}",
                                                    "stream_key": "demo-stream-key", "track_all": "on"}, None)
                    # The API replays from the timepoint asked for: resume just before the backlog's first event.
                    stream.enabled, stream.last_timepoint = True, FIRST - 1
                    stream_id = stream.id
                tenant_id = tenant.id
            _run_measurements(app, env, slug, tenant_id, stream_id, events, port, simulator)
        finally:
            simulator.send_signal(signal.SIGTERM)
            simulator.wait(30)
            with app.app_context():
                drop_tenant(slug)


def _run_measurements(app, env, slug, tenant_id, stream_id, events, port, simulator) -> None:
    _wait_port(port, simulator)
    seconds, rss = catch_up(app, env, slug, tenant_id, stream_id, events)
    rate = events / seconds
    copied = copy_rate(app, tenant_id, events)
    ratio = rate / copied
    print(f"catch-up: {rate:,.0f} events/s ({events:,} events in {seconds:.1f} s, consumer process start to "
          "checkpoint at the last timepoint)")
    print(f"COPY of the same rows into the same tables: {copied:,.0f} events/s")
    print(f"ratio catch-up / COPY: {ratio:.2f} (target >= {RATIO_TARGET}) {verdict(ratio >= RATIO_TARGET)}")
    print(f"consumer peak RSS: {rss:.0f} MB (target < {RSS_TARGET_MB} MB) {verdict(rss < RSS_TARGET_MB)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    run(parser.parse_args().events)


if __name__ == "__main__":
    main()
