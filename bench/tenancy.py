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

Every tenant created here is dropped at the end, also on failure: tenant roles are cluster-wide.
Run from the repository root: `python bench/tenancy.py [--tenants N] [--requests N]`.
"""

from __future__ import annotations

import argparse
import gc
import logging
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
from bench._common import Servers, app_config, migrate_public, p50, p95, servers, verdict  # noqa: E402
from strata import audit  # noqa: E402
from strata.accounts.service import create_user  # noqa: E402
from strata.db import db, switch_count  # noqa: E402
from strata.tenancy import migrations  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, list_tenants, migrate_tenants, tenant_context  # noqa: E402

PAGE_RATIO_TARGET = 1.10
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


def bench_migrate(app: Flask, prefix: str, count: int) -> None:
    """Provision `count` tenants, then time a no-op migrate and a migrate with one new revision."""
    scale = NOOP_TARGET_TENANTS / count
    with app.app_context():
        start = time.perf_counter()
        for i in range(count):
            create_tenant(f"{prefix}_{i:04d}", f"Bench tenant {i}")
        provision = time.perf_counter() - start
        db.session.remove()
        noop = statistics.median(timed_migrate(count=count) for _ in range(3))
        with tempfile.TemporaryDirectory(prefix="strata-bench-rev-") as folder:
            head = migrations.script_directory().get_current_head()
            (Path(folder) / "bench_extra.py").write_text(EXTRA_REVISION.format(head=head))
            script = migrations.script_directory([folder])
            one = timed_migrate(script, "upgraded", count)
            noop_after = timed_migrate(script, count=count)
    per = 1000 / count
    print(f"flask tenants migrate (migrate_tenants()), {count} tenants")
    print(f"  provision (set-up)   {provision:8.2f} s   {provision * per:6.2f} ms/tenant")
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
        dropped = 0
        for slug in [t.slug for t in list_tenants() if t.slug.startswith(prefix)]:
            try:
                drop_tenant(slug)
                dropped += 1
            except Exception as exc:  # keep dropping the others; the sweep below takes the role
                print(f"warning: dropping tenant {slug} failed: {exc}", file=sys.stderr)
        pattern = "tenant_" + prefix.replace("_", r"\_") + "%"
        leftover = text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p")
        for role in db.session.scalars(leftover, {"p": pattern}).all():
            for statement in ("DROP OWNED BY {}", "DROP ROLE {}"):
                ddl = sql.SQL(statement).format(sql.Identifier(role)).as_string(None)
                db.session.connection().exec_driver_sql(ddl)
        db.session.commit()
        db.session.remove()
    return dropped


def run(where: Servers, tenants: int, requests: int) -> None:
    """Migrate the public schema, run both benchmarks and drop every tenant they created."""
    scoped = create_app(app_config(where, TENANT_SCOPING=True))
    unscoped = create_app(app_config(where, TENANT_SCOPING=False))
    prefix = f"bench_{secrets.token_hex(3)}"
    server = migrate_public(scoped)
    print(f"Strata tenancy bench: PostgreSQL {server} ({where.label}); tenant slugs {prefix}_*")
    try:
        bench_page(scoped, unscoped, f"{prefix}_page", requests)
        bench_migrate(scoped, prefix, tenants)
    finally:
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
    args = parser.parse_args()
    if args.tenants < 1 or args.requests < 20:
        parser.error("--tenants must be at least 1 and --requests at least 20")
    # A root handler stops migrations/env.py from setting Alembic's per-tenant INFO lines loose.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with servers() as where:
        run(where, args.tenants, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
