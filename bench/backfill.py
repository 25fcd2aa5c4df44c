"""Backfill benchmark: 520 weekly segments, 4 real workers, parallel_limit 10.

One tenant gets a report on the registered `synthetic` source whose segment work is a fixed
sleep (default 50 ms: a trivial source with a known cost), over ten years of weeks (520 segments
from a Monday). Four `flask worker` processes on the `backfills` queue are started and idle
before the backfill is launched; the clock runs from launch until the collection is completed.
It prints:

- total time against the ideal (segment work ÷ concurrency, concurrency = min(workers, limit);
  target ≤ 1.2×);
- bookkeeping overhead per segment, (wall × concurrency − work) ÷ segments: everything beyond
  the work itself (claim, result write, RQ; target < 20 ms), and the part measured on the rows
  (time between one segment's end and the same slot's next start);
- the most segments seen running at once (from the rows' start and end times; ≤ the limit);
- fairness: two more tenants each submit a daily report of 500 segments (20 ms of work each,
  parallel_limit 4) one right after the other on the same workers; for each tenant the mean
  wait of its segments (launch to segment start) and the time to its run's end. Target: neither
  tenant's mean wait is more than 1.5× the other's (round-robin slots; a plain FIFO queue would
  make the second tenant wait for the whole of the first one's run).

The tenants are dropped at the end, also on failure. Run from the repository root:
`python bench/backfill.py [--segments 520] [--workers 4] [--limit 10] [--work-ms 50] [--fair-segments 500]`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import app_config, migrate_public, servers, verdict  # noqa: E402
from strata.db import db  # noqa: E402
from strata.reports import engine, service  # noqa: E402
from strata.reports.models import Collection  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, tenant_context  # noqa: E402

RATIO_TARGET, OVERHEAD_TARGET_MS, FAIRNESS_TARGET = 1.2, 20.0, 1.5
FIRST_MONDAY = date(2016, 1, 4)


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    """Start `count` idle workers on the backfills queue; return their processes."""
    flask = Path(sys.executable).with_name("flask")
    return [subprocess.Popen([str(flask), "--app", "app:create_app", "worker", "--queues", "backfills",
                              "--no-scheduler"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True) for _ in range(count)]


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_idle_workers(app, count: int, timeout: float = 120) -> None:
    """Wait until `count` workers have registered with Redis."""
    from rq import Worker

    from strata.core import queues

    deadline = time.monotonic() + timeout
    with app.app_context():
        while len(Worker.all(connection=queues.connection)) < count:
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start")
            time.sleep(0.2)


def launch(slug: str, segments: int, limit: int, work: float, kind: str = "weekly"):
    """Create the report and launch its backfill; return the collection id."""
    step = timedelta(weeks=1) if kind == "weekly" else timedelta(days=1)
    end = FIRST_MONDAY + step * segments - timedelta(days=1)
    config = {"name": "Bench", "data_source": "synthetic",
              "parameters": {"metric": "days", "filters": {"seconds": work, "fail_dates": "", "recover_after": 0}},
              "lookback_config": {"type": "custom", "startDate": FIRST_MONDAY.isoformat(), "endDate": end.isoformat()},
              "segmentation_config": {"type": kind, "parallel_limit": limit, "retry_failed": False},
              "schedule_config": {"frequency": "none"}}
    from strata.tenancy.service import get_tenant

    with tenant_context(get_tenant(slug).id):
        _, collection = service.create_report(config, None)
        engine.launch(collection)
        return collection.id


def measure(slug: str, collection_id) -> dict:
    """Return the rows' figures: count, max running at once, mean gap between a slot's segments."""
    from strata.tenancy.service import get_tenant

    with tenant_context(get_tenant(slug).id):
        rows = db.session.execute(text("""
            SELECT worker, started_at, completed_at, status FROM report_data_weeks
            WHERE collection_id = :cid ORDER BY worker, started_at"""), {"cid": collection_id}).all()
    events = sorted([(r.started_at, 1) for r in rows] + [(r.completed_at, -1) for r in rows])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    gaps = [(b.started_at - a.completed_at).total_seconds() for a, b in zip(rows, rows[1:], strict=False)
            if a.worker == b.worker]
    spans = [(r.completed_at - r.started_at).total_seconds() for r in rows]
    first, last = min(r.started_at for r in rows), max(r.completed_at for r in rows)
    return {"completed": sum(r.status == "completed" for r in rows), "peak": peak,
            "gap_ms": 1000 * sum(gaps) / max(len(gaps), 1), "span_ms": 1000 * sum(spans) / len(spans),
            "first": first, "last": last}


def fairness(app, slugs: list[str], args) -> list[dict]:
    """Launch one daily report per tenant back to back; return each tenant's mean segment wait and run time."""
    from strata.tenancy.service import get_tenant

    work = args.fair_work_ms / 1000
    with app.app_context():
        runs = [(get_tenant(slug).id, launch(slug, args.fair_segments, args.fair_limit, work, "daily"))
                for slug in slugs]
        figures = []
        for tenant_id, collection_id in runs:
            while True:
                with tenant_context(tenant_id):
                    collection = db.session.get(Collection, collection_id, populate_existing=True)
                    if collection.status not in ("pending", "running"):
                        row = db.session.execute(text("""
                            SELECT avg(extract(epoch FROM w.started_at - c.started_at)) AS wait,
                                   extract(epoch FROM max(w.completed_at) - c.started_at) AS span
                            FROM report_data_weeks w JOIN report_data_collections c ON c.id = w.collection_id
                            WHERE c.id = :cid GROUP BY c.started_at"""), {"cid": collection_id}).one()
                        figures.append({"status": collection.status, "wait": float(row.wait), "span": float(row.span)})
                        break
                time.sleep(0.25)
    return figures


def run(app, slug: str, args, fair_slugs: list[str]) -> None:
    work = args.work_ms / 1000
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="bench", PYTHONPATH=str(REPO))
    procs = start_workers(args.workers, env)
    try:
        wait_idle_workers(app, args.workers)
        with app.app_context():
            collection_id = launch(slug, args.segments, args.limit, work)
            tenant_id = db.session.scalar(text("SELECT id FROM public.tenants WHERE slug = :s"), {"s": slug})
            while True:
                time.sleep(0.25)
                with tenant_context(tenant_id):
                    collection = db.session.get(Collection, collection_id, populate_existing=True)
                    status, started, ended = collection.status, collection.started_at, collection.completed_at
                if status not in ("pending", "running"):
                    break
            # Database clock: from the launch's transaction to the moment the last segment was finalised.
            wall = (ended - started).total_seconds()
            figures = measure(slug, collection_id)
            figures["start_ms"] = 1000 * (figures["first"] - started).total_seconds()
            figures["end_ms"] = 1000 * (ended - figures["last"]).total_seconds()
        fair = fairness(app, fair_slugs, args) if args.fair_segments else []
    finally:
        stop_workers(procs)
    report(args, work, wall, status, figures)
    if fair:
        report_fairness(args, fair)


def report_fairness(args, fair: list[dict]) -> None:
    waits = [f["wait"] for f in fair]
    ratio = max(waits) / max(min(waits), 1e-9)
    print(f"  fairness: {len(fair)} tenants × {args.fair_segments} daily segments ({args.fair_work_ms:g} ms each, "
          f"parallel_limit {args.fair_limit}) submitted back to back on {args.workers} workers")
    for number, figure in enumerate(fair, 1):
        print(f"    tenant {number}: mean wait {figure['wait']:6.2f} s, run done after {figure['span']:6.2f} s "
              f"({figure['status']})")
    print(f"  fairness ratio (longer mean wait ÷ shorter) {ratio:.2f}×  (target ≤ {FAIRNESS_TARGET}×)  "
          f"{verdict(ratio <= FAIRNESS_TARGET)}")


def report(args, work: float, wall: float, status: str, figures: dict) -> None:
    concurrency = min(args.workers, args.limit)
    ideal = args.segments * work / concurrency
    ratio = wall / ideal
    overhead_ms = 1000 * (wall * concurrency - args.segments * work) / args.segments
    print(f"{args.segments} weekly segments, synthetic source ({args.work_ms:g} ms of work each), "
          f"{args.workers} workers, parallel_limit {args.limit}: collection {status}, "
          f"{figures['completed']} segments completed")
    print(f"  total time           {wall:7.2f} s   ideal {ideal:.2f} s (work {args.segments * work:.1f} s ÷ "
          f"{concurrency})   ratio {ratio:.2f}×  (target ≤ {RATIO_TARGET}×)  {verdict(ratio <= RATIO_TARGET)}")
    print(f"  overhead per segment {overhead_ms:7.2f} ms  (wall × concurrency − work, ÷ segments; "
          f"target < {OVERHEAD_TARGET_MS:g} ms)  {verdict(overhead_ms < OVERHEAD_TARGET_MS)}")
    print(f"  measured on the rows: {figures['span_ms'] - args.work_ms:.2f} ms per segment beyond the work inside "
          f"its run, {figures['gap_ms']:.2f} ms between a slot's segments; first segment "
          f"{figures['start_ms']:.0f} ms after launch, collection done {figures['end_ms']:.0f} ms after the last")
    print(f"  most segments running at once: {figures['peak']} (limit {args.limit})  "
          f"{verdict(figures['peak'] <= args.limit)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=520)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--work-ms", type=float, default=50.0)
    parser.add_argument("--fair-segments", type=int, default=500, help="per tenant; 0 skips the fairness run")
    parser.add_argument("--fair-work-ms", type=float, default=20.0)
    parser.add_argument("--fair-limit", type=int, default=4)
    args = parser.parse_args()
    with servers() as where:
        app = create_app(app_config(where))
        version = migrate_public(app)
        print(f"Backfill benchmark on {where.label} (PostgreSQL {version})")
        slug = f"bench_{secrets.token_hex(3)}"
        fair_slugs = [f"bench_{secrets.token_hex(3)}" for _ in range(2)] if args.fair_segments else []
        with app.app_context():
            for name in (slug, *fair_slugs):
                create_tenant(name, "Backfill bench")
        try:
            run(app, slug, args, fair_slugs)
        finally:
            with app.app_context():
                db.session.rollback()
                for name in (slug, *fair_slugs):
                    drop_tenant(name)
                db.engine.dispose()


if __name__ == "__main__":
    main()
