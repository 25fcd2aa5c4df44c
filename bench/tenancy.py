"""Tenancy benchmark: what tenant scoping costs a page, and what `flask tenants migrate` costs.

1. Tenant page. `GET /t/<slug>/` (the dashboard, which reads the tenant's `audit_logs`) through
   two apps on the same database: one with `TENANT_SCOPING` on (every transaction runs
   `set_config('role', …, true)` and `set_config('search_path', …, true)`), one with it off.
   The honest "off" baseline still sets the search_path, or the page could not find its tables;
   the difference is the role switch. After a warm-up the variants alternate request by request
   (A/B, B/A, …) so drift hits both alike; the figures are the ratios of medians and of p95s.
2. Tenant migrations. N tenants are provisioned (set-up, timed but not a target), then
   `migrate_tenants()` runs with nothing to apply (target: 1,000 tenants in under 10 s), then
   again with one extra revision that adds a column to `audit_logs` in every tenant.

3. Provisioning. Each of the N tenants is timed (target < 50 ms per tenant): half are made from
   the recorded template (schema, role, grants and every table in one batch), half claim a spare
   schema built beforehand (two renames).
4. Housekeeping. At 10, 1,000 and 10,000 idle tenants (up to `--housekeeping-max`), the database
   time of the periodic jobs (schedule tick every 30 s, segment sweep every 20 s, stream
   supervisor every 30 s), summed per minute (target: flat, < 1 s per minute at 10,000); up to
   1,000 tenants also the old way, entering every tenant, for comparison.

Tenant roles get their own DB_ROLE_PREFIX; on an external server (BENCH_DATABASE_URL) the
database is dropped at the end and then every role of that prefix, also on failure.
Run from the repository root: `python bench/tenancy.py [--tenants N] [--requests N] [--housekeeping-max N]`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alembic.script import ScriptDirectory  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import Servers, app_config, drop_roles, migrate_public, p50, p95, servers, verdict  # noqa: E402
from strata import audit  # noqa: E402
from strata.accounts.service import create_user  # noqa: E402
from strata.db import db, switch_count  # noqa: E402
from strata.tenancy import migrations  # noqa: E402
from strata.tenancy.service import (  # noqa: E402
    create_tenant,
    drop_tenant,
    list_tenants,
    migrate_tenants,
    prepare_spares,
    role_prefix,
    tenant_context,
)

PAGE_RATIO_TARGET = 1.10
PROVISION_TARGET_MS = 50.0
HOUSEKEEPING_LEVELS = (10, 1000, 10000)
HOUSEKEEPING_TARGET_SECONDS = 1.0
LEGACY_MAX_TENANTS = 1000
NOOP_TARGET_SECONDS, NOOP_TARGET_TENANTS = 10.0, 1000
AUDIT_ROWS = 500
PASSWORD = "bench password 1"
EXTRA_REVISION = '''import sqlalchemy as sa
from alembic import op

revision = "bench_extra"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("audit_logs", sa.Column("bench_note", sa.Text))


def downgrade():
    op.drop_column("audit_logs", "bench_note")
'''


def signed_in_client(app: Flask, email: str) -> FlaskClient:
    """Return a test client of `app` signed in as `email`."""
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed with {response.status_code}")
    return client


def get_ms(client: FlaskClient, url: str) -> float:
    """Return how long `GET url` took in milliseconds; raise unless it answered 200."""
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def statements_per_request(app: Flask, client: FlaskClient, url: str) -> tuple[int, int]:
    """Return how many SQL statements one `GET url` sends, and how many of them are set_config calls."""
    seen: list[str] = []

    def note(connection, cursor, statement, *args) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    # Scope switches go out from inside the statement hook, past the event: count them there.
    switches_before = switch_count[0]
    event.listen(engine, "before_cursor_execute", note)
    try:
        get_ms(client, url)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    switches = switch_count[0] - switches_before + sum("set_config" in statement for statement in seen)
    return len(seen) + switch_count[0] - switches_before, switches


def bench_page(scoped: Flask, unscoped: Flask, slug: str, requests: int) -> None:
    """Time the tenant dashboard with scoping on and off, interleaved, and print both."""
    email = f"{slug}@bench.example.com"
    with scoped.app_context():
        user = create_user(email, PASSWORD, "Bench", hash_method=scoped.config["PASSWORD_HASH_METHOD"])
        tenant = create_tenant(slug, "Bench page tenant", owner_id=user.id)
        with tenant_context(tenant.id):
            for i in range(AUDIT_ROWS):
                audit.record("bench", i, "update", user.id, {"n": [i, i + 1]}, f"bench change {i}")
        db.session.remove()
    # Requests run outside any app context, so each gets a fresh one (and session), as in production.
    clients = {"on": signed_in_client(scoped, email), "off": signed_in_client(unscoped, email)}
    url = f"/t/{slug}/"
    for client in clients.values():
        if f"bench change {AUDIT_ROWS - 1}" not in client.get(url).get_data(as_text=True):
            raise RuntimeError("the dashboard does not show the seeded audit rows")
        for _ in range(max(200, requests // 10)):
            get_ms(client, url)
    samples: dict[str, list[float]] = {"on": [], "off": []}
    gc.collect()
    gc.disable()
    try:
        for i in range(requests):
            for variant in ("on", "off") if i % 2 == 0 else ("off", "on"):
                samples[variant].append(get_ms(clients[variant], url))
    finally:
        gc.enable()
    print(f"tenant page GET /t/<slug>/ ({AUDIT_ROWS} audit rows), {requests} interleaved requests each")
    for name, stat in (("p50", p50), ("p95", p95)):
        on, off = stat(samples["on"]), stat(samples["off"])
        ratio = on / off
        print(f"  {name}  scoped {on:6.2f} ms vs unscoped {off:6.2f} ms   ratio {ratio:.3f} "
              f"(target ≤ {PAGE_RATIO_TARGET:.2f}) {verdict(ratio <= PAGE_RATIO_TARGET)}")
    mean_on, mean_off = statistics.fmean(samples["on"]), statistics.fmean(samples["off"])
    print(f"  mean scoped {mean_on:6.2f} ms vs unscoped {mean_off:6.2f} ms   ratio {mean_on / mean_off:.3f}")
    for variant, app, client in (("scoped", scoped, clients["on"]), ("unscoped", unscoped, clients["off"])):
        total, switches = statements_per_request(app, client, url)
        print(f"  {variant:8s} SQL statements per request: {total}, of which set_config switches: {switches}")
    print("  note: 'unscoped' (TENANT_SCOPING=False) still sets search_path in every transaction;")
    print("        only the role switch is skipped, so the ratio is the cost of SET LOCAL ROLE alone")
    with scoped.app_context():
        drop_tenant(slug)  # the migration figures below are for exactly N tenants


def timed_migrate(script: ScriptDirectory | None = None, expect: str = "up_to_date", count: int = 0) -> float:
    """Run `migrate_tenants(script)`; return seconds; raise unless all `count` tenants ended in `expect`."""
    start = time.perf_counter()
    report = migrate_tenants(script)
    elapsed = time.perf_counter() - start
    if report.failed:
        slug, error = next(iter(report.failed.items()))
        raise RuntimeError(f"{len(report.failed)} tenants failed to migrate, e.g. {slug}: {error}")
    if len(getattr(report, expect)) != count:
        raise RuntimeError(f"expected {count} tenants {expect}, got {len(getattr(report, expect))}")
    if any(applied != ["bench_extra"] for applied in report.upgraded.values()):
        raise RuntimeError("tenants applied more than the bench revision (did the revisions change mid-run?)")
    return elapsed


def provision(app: Flask, prefix: str, start: int, stop: int) -> list[float]:
    """Create tenants `prefix`_`start` … `stop`-1; return each one's milliseconds."""
    samples = []
    with app.app_context():
        for i in range(start, stop):
            began = time.perf_counter()
            create_tenant(f"{prefix}_{i:05d}", f"Bench tenant {i}")
            samples.append((time.perf_counter() - began) * 1000)
            db.session.remove()
    return samples


def bench_provision(app: Flask, prefix: str, count: int) -> None:
    """Provision `count` tenants from the template and print the time per tenant."""
    with app.app_context():  # the first tenant of a process records the template: time it apart
        began = time.perf_counter()
        create_tenant(f"{prefix}_first", "Bench first tenant")
        first = (time.perf_counter() - began) * 1000
        drop_tenant(f"{prefix}_first")
        db.session.remove()
    samples = provision(app, prefix, 0, count - count // 2)
    with app.app_context():
        began = time.perf_counter()
        prepare_spares(count // 2)
        spare_seconds = time.perf_counter() - began
        db.session.remove()
    claimed = provision(app, prefix, count - count // 2, count)
    print(f"tenant provisioning, {count} tenants: half built from the template, half claiming spares")
    print(f"  first of the process (records the template) {first:7.1f} ms")
    print(f"  from the template  p50 {p50(samples):7.1f} ms   p95 {p95(samples):7.1f} ms   "
          f"(target p50 < {PROVISION_TARGET_MS:.0f} ms) {verdict(p50(samples) < PROVISION_TARGET_MS)}")
    print(f"  claiming a spare   p50 {p50(claimed):7.1f} ms   p95 {p95(claimed):7.1f} ms   "
          f"(target p50 < {PROVISION_TARGET_MS:.0f} ms) {verdict(p50(claimed) < PROVISION_TARGET_MS)}; "
          f"the {count // 2} spares took {spare_seconds:.1f} s to build beforehand")


class DatabaseClock:
    """Sums the time statements spend in the database (from send to result) on `engine`."""

    def __init__(self, engine):
        self.engine, self.seconds, self.statements = engine, 0.0, 0

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        self.statements += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def _legacy(work):
    """The old periodic pattern: enter every active tenant and run `work` there."""
    def run():
        for tenant in [t for t in list_tenants() if t.status == "active"]:
            with tenant_context(tenant.scope()):
                work()
        db.session.rollback()
    return run


def housekeeping_minute(app: Flask, legacy: bool, rounds: int = 3) -> tuple[float, float, int]:
    """Return (database seconds, wall seconds, statements) the periodic jobs spend per minute."""
    from strata.reports import engine as report_engine
    from strata.reports import service as report_service
    from strata.streams import supervisor
    from workers.reports import sweep_segments, tick_schedules

    if legacy:
        jobs = [(2, _legacy(report_service.tick)), (3, _legacy(report_engine.sweep)),
                (2, _legacy(supervisor._enabled_ids))]
    else:
        jobs = [(2, tick_schedules), (3, sweep_segments), (2, supervisor.ensure_all)]
    database = wall = 0.0
    statements = 0
    with app.app_context():
        for _, job in jobs:
            job()  # warm
        for per_minute, job in jobs:
            with DatabaseClock(db.engine) as clock:
                began = time.perf_counter()
                for _ in range(rounds):
                    job()
                wall += (time.perf_counter() - began) / rounds * per_minute
            database += clock.seconds / rounds * per_minute
            statements += round(clock.statements / rounds * per_minute)
        db.session.remove()
    return database, wall, statements


def register_only(app: Flask, prefix: str, start: int, stop: int) -> None:
    """Add tenant rows `start` … `stop`-1 without schema or role (see --provision-max)."""
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO public.tenants (slug, name, schema_name, db_role) "
            "SELECT :p || '_r' || i, 'Registered only', 'tenant_' || :p || '_r' || i, :p || '_r' || i "
            "FROM generate_series(:a, :b - 1) AS i"), {"p": prefix, "a": start, "b": stop})
        db.session.commit()
        db.session.remove()


def bench_housekeeping(app: Flask, prefix: str, have: int, levels: list[int], provision_max: int) -> int:
    """Grow the idle tenants to each level and print the housekeeping cost per minute; return the count."""
    print("housekeeping per minute (tick ×2, sweep ×3, stream supervisor ×2), idle tenants")
    figures = {}
    for level in levels:
        if have < level:
            began = time.perf_counter()
            real = max(0, min(level, provision_max) - have)
            samples = provision(app, prefix, have, have + real) if real else []
            if level > have + real:
                register_only(app, prefix, have + real, level)
                print(f"  ({level - have - real} tenants registered only: rows in public.tenants without schema "
                      "or role, which the due-work path never enters; --provision-max caps real ones)")
            if samples:
                print(f"  (provisioned {real} more tenants in {time.perf_counter() - began:.0f} s, "
                      f"p50 {p50(samples):.1f} ms each)")
            have = level
        database, wall, statements = housekeeping_minute(app, legacy=False)
        figures[level] = database
        line = (f"  {level:6d} tenants: due-work index  DB {database * 1000:8.1f} ms/min  "
                f"wall {wall * 1000:8.1f} ms/min  {statements} statements/min")
        if level <= min(LEGACY_MAX_TENANTS, provision_max):
            old_db, old_wall, old_statements = housekeeping_minute(app, legacy=True, rounds=1)
            line += f"   | every tenant (before): DB {old_db * 1000:8.1f} ms/min, {old_statements} statements/min"
        print(line)
    top = max(figures)
    print(f"  at {top} tenants {figures[top]:.3f} s/min (target < {HOUSEKEEPING_TARGET_SECONDS:.0f} s/min) "
          f"{verdict(figures[top] < HOUSEKEEPING_TARGET_SECONDS)}; "
          f"{top} vs {min(figures)} tenants ×{figures[top] / max(figures[min(figures)], 1e-9):.2f} (target: flat)")
    return have


def bench_migrate(app: Flask, prefix: str, count: int) -> None:
    """Time a no-op migrate of the `count` tenants provisioned, and a migrate with one new revision."""
    scale = NOOP_TARGET_TENANTS / count
    with app.app_context():
        noop = statistics.median(timed_migrate(count=count) for _ in range(3))
        with tempfile.TemporaryDirectory(prefix="strata-bench-rev-") as folder:
            head = migrations.script_directory().get_current_head()
            (Path(folder) / "bench_extra.py").write_text(EXTRA_REVISION.format(head=head))
            script = migrations.script_directory([folder])
            one = timed_migrate(script, "upgraded", count)
            noop_after = timed_migrate(script, count=count)
    per = 1000 / count
    print(f"flask tenants migrate (migrate_tenants()), {count} tenants")
    print(f"  no-op (median of 3)  {noop:8.3f} s   {noop * per:6.2f} ms/tenant   "
          f"→ {NOOP_TARGET_TENANTS} tenants ≈ {noop * scale:.2f} s vs target < {NOOP_TARGET_SECONDS:.0f} s "
          f"{verdict(noop * scale < NOOP_TARGET_SECONDS)}")
    print(f"  one new revision     {one:8.2f} s   {one * per:6.2f} ms/tenant   "
          f"→ {NOOP_TARGET_TENANTS} tenants ≈ {one * scale:.1f} s (no target; vs no-op ×{one / noop:.0f})")
    print(f"  no-op again at the new head {noop_after:.3f} s")


def drop_bench_tenants(app: Flask, prefix: str) -> int:
    """Drop the tenants whose slug starts with `prefix`, then any role of theirs left; return how many."""
    with app.app_context():
        db.session.rollback()
        db.session.execute(text("DELETE FROM public.tenants WHERE slug LIKE :p AND name = 'Registered only'"),
                           {"p": prefix.replace("_", r"\_") + r"\_r%"})
        db.session.commit()
        dropped = 0
        for slug in [t.slug for t in list_tenants() if t.slug.startswith(prefix)]:
            try:
                drop_tenant(slug)
                dropped += 1
            except Exception as exc:  # keep dropping the others; the sweep below takes the role
                print(f"warning: dropping tenant {slug} failed: {exc}", file=sys.stderr)
        pattern = role_prefix().replace("_", r"\_") + prefix.replace("_", r"\_") + "%"
        leftover = text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p")
        for role in db.session.scalars(leftover, {"p": pattern}).all():
            for statement in ("DROP OWNED BY {}", "DROP ROLE {}"):
                ddl = sql.SQL(statement).format(sql.Identifier(role)).as_string(None)
                db.session.connection().exec_driver_sql(ddl)
        db.session.commit()
        db.session.remove()
    return dropped


def run(where: Servers, tenants: int, requests: int, housekeeping_max: int, provision_max: int,
        role_prefix_: str) -> None:
    """Migrate the public schema, run the benchmarks and drop every tenant they created."""
    scoped = create_app(app_config(where, TENANT_SCOPING=True, DB_ROLE_PREFIX=role_prefix_))
    unscoped = create_app(app_config(where, TENANT_SCOPING=False, DB_ROLE_PREFIX=role_prefix_))
    prefix = f"bench_{secrets.token_hex(3)}"
    server = migrate_public(scoped)
    print(f"Strata tenancy bench: PostgreSQL {server} ({where.label}); tenant slugs {prefix}_*, "
          f"roles {role_prefix_}*")
    try:
        bench_page(scoped, unscoped, f"{prefix}_page", requests)
        bench_provision(scoped, prefix, tenants)
        bench_migrate(scoped, prefix, tenants)
        levels = [level for level in HOUSEKEEPING_LEVELS if level <= housekeeping_max]
        if levels:
            bench_housekeeping(scoped, prefix, tenants, levels, provision_max)
    finally:
        if "BENCH_DATABASE_URL" not in os.environ:  # an embedded server: it goes with its folder
            start = time.perf_counter()
            dropped = drop_bench_tenants(scoped, prefix)
            print(f"clean-up: dropped {dropped} tenants (schemas, roles) in {time.perf_counter() - start:.1f} s")
        for app in (scoped, unscoped):
            with app.app_context():
                db.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200, help="tenants to migrate (default 200)")
    parser.add_argument("--requests", type=int, default=2000, help="page requests per variant (default 2000)")
    parser.add_argument("--housekeeping-max", type=int, default=1000,
                        help="largest idle-tenant count for the housekeeping figure (10, 1000 or 10000; default 1000)")
    parser.add_argument("--provision-max", type=int, default=10000,
                        help="provision at most this many tenants for the housekeeping levels; the rest are "
                             "registered only (rows in public.tenants), to measure the due-work path quickly")
    args = parser.parse_args()
    if args.tenants < 4 or args.requests < 20:
        parser.error("--tenants must be at least 4 and --requests at least 20")
    # A root handler stops migrations/env.py from setting Alembic's per-tenant INFO lines loose.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    role_prefix_ = f"b{secrets.token_hex(3)}_"
    try:
        with servers() as where:
            run(where, args.tenants, args.requests, args.housekeeping_max, args.provision_max, role_prefix_)
    finally:
        if "BENCH_DATABASE_URL" in os.environ:
            started = time.perf_counter()
            print(f"clean-up: database dropped; {drop_roles(role_prefix_)} roles dropped "
                  f"in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
