"""Streams benchmark: many streams in one process, and catch-up of a 200k-event backlog against COPY.

Many streams: a simulator process serves N streams (default 200: the nine stream types over as many
tenants as needed, `--backlog` events each, in their real shapes) and one host process
(`flask streams host`, the code the `streams.host` job runs) consumes them all at once, each stream in
its own thread with its own checkpointing transactions. It prints the events/s of all streams together
(host start to every checkpoint at its stream's last timepoint) and the host's peak RSS (target: 200
streams in < 1 GB).

A simulator (`flask streams simulate --pregenerate`, its own process) publishes N company-profile
events (default 200,000) about 50,000 companies. A consumer process (`flask streams consume`, the code
the RQ job runs) reads them from the first timepoint with "track all companies" on, writing the log rows,
the company upserts and the checkpoint in batches of 5,000. It prints:

- catch-up rate: events/s from the consumer's start until the checkpoint reaches the last timepoint;
- COPY rate: the same log rows and company rows exported, the tables emptied, then loaded again with
  `COPY … FROM STDIN` (with the same indexes): events/s, and the ratio catch-up / COPY (target ≥ 0.25);
- the consumer's peak RSS (VmHWM; target < 500 MB).

The tenants are dropped at the end, also on failure.
Run: `python bench/streams.py [--events N] [--streams N] [--backlog N]`.
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
from strata.core import queues  # noqa: E402
from strata.db import db  # noqa: E402
from strata.streams import service  # noqa: E402
from strata.streams.host import WANTED, member  # noqa: E402
from strata.streams.models import STREAM_PATHS  # noqa: E402
from strata.streams.simulator import SimulatorConfig  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, tenant_context  # noqa: E402

RATIO_TARGET, RSS_TARGET_MB = 0.5, 500
MANY_RSS_TARGET_MB = 1024
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
                           "--pool", "50000", "--pregenerate", "--pregenerate-streams", "company-profile",
                           "--heartbeat", "5")
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


def _make_streams(app, count: int, port: int) -> list[tuple[int, str, int, int]]:
    """Create `count` enabled streams over ceil(count / 9) tenants; return (tenant id, slug, stream id, first)."""
    made = []
    types = list(STREAM_PATHS)
    with app.app_context():
        for t in range(-(-count // len(types))):
            slug = f"bench_many_{secrets.token_hex(3)}_{t}"
            tenant = create_tenant(slug, f"Streams bench {t}")
            tenant_id = tenant.id
            with tenant_context(tenant_id):
                for stream_type in types[: count - len(made) if count - len(made) < len(types) else len(types)]:
                    stream = service.create_stream({"stream_type": stream_type, "stream_key": "demo-stream-key",
                                                    "base_url": f"http://127.0.0.1:{port}", "track_all": "on"}, None)
                    first = SimulatorConfig().first(stream_type)
                    stream.enabled, stream.last_timepoint = True, first - 1
                    db.session.flush()
                    made.append((tenant_id, slug, stream.id, first))
    return made


def _all_caught_up(app, streams, backlog: int) -> int:
    """Return how many of `streams` have their checkpoint at their last timepoint."""
    done = 0
    with app.app_context():
        for tenant_id in sorted({s[0] for s in streams}):
            with tenant_context(tenant_id):
                rows = dict(db.session.execute(text("SELECT id, last_timepoint FROM stream_metadata")).all())
            done += sum(1 for t, _, sid, first in streams if t == tenant_id and rows.get(sid) == first + backlog - 1)
    return done


def many_streams(app, env: dict, count: int, backlog: int) -> None:
    """Serve `count` streams of `backlog` events each and consume them all in one host process; print the figures."""
    port = _free_port()
    simulator = _flask(env, "streams", "simulate", "--port", str(port), "--backlog", str(backlog), "--rate", "0",
                       "--pool", "5000", "--pregenerate", "--heartbeat", "5", "--max-connections", str(count + 50))
    streams: list = []
    try:
        streams = _make_streams(app, count, port)
        with app.app_context():
            queues.connection.delete(WANTED)
            queues.connection.sadd(WANTED, *[member(t, s) for t, _, s, _ in streams])
        _wait_port(port, simulator)
        host_env = dict(env, DB_POOL_SIZE="20", DB_MAX_OVERFLOW="20")
        started = time.perf_counter()
        host = _flask(host_env, "streams", "host", "--capacity", str(count))
        try:
            while (done := _all_caught_up(app, streams, backlog)) < len(streams):
                if host.poll() is not None:
                    raise SystemExit(f"the host exited early with {done} of {len(streams)} streams caught up")
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
            rss = _peak_rss_mb(host.pid)
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(60)
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(30)
        with app.app_context():
            queues.connection.delete(WANTED)
            for slug in sorted({s[1] for s in streams}):
                drop_tenant(slug)
    total = count * backlog
    print(f"many streams: {count} streams ({-(-count // len(STREAM_PATHS))} tenants) in one host process, "
          f"{backlog} events each: {total / elapsed:,.0f} events/s in total ({total:,} events in {elapsed:.1f} s)")
    print(f"host peak RSS with {count} streams: {rss:.0f} MB (target < {MANY_RSS_TARGET_MB} MB) "
          f"{verdict(rss < MANY_RSS_TARGET_MB)}")


def run_many(count: int, backlog: int) -> None:
    with servers("strata_bench_streams_many") as srv:
        app = create_app(app_config(srv))
        version = migrate_public(app)
        env = dict(os.environ, DATABASE_URL=srv.database_url, REDIS_URL=srv.redis_url, SECRET_KEY="bench",
                   PYTHONPATH=str(REPO))
        print(f"Streams benchmark on PostgreSQL {version} ({srv.label}): {count} streams in one process")
        many_streams(app, env, count, backlog)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="catch-up backlog (0 skips the catch-up)")
    parser.add_argument("--streams", type=int, default=200, help="streams in one host process (0 skips)")
    parser.add_argument("--backlog", type=int, default=500, help="events of each of the many streams")
    args = parser.parse_args()
    if args.streams:
        run_many(args.streams, args.backlog)
    if args.events:
        run(args.events)


if __name__ == "__main__":
    main()
