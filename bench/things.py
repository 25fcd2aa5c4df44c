"""Things benchmark: 100,000 thing classes and 1,000,000 things in one tenant.

Loads, with INSERT … SELECT generate_series as the tenant's role: 100k classes named after 20 kinds
("Device 000042", "Building 000043", …), three attributes (status enum of 5, serial string, weight
integer) assigned to every class, 1M things (200k in the class "Device 000000", the rest spread over
the others, 8 per class) and 100k bidirectional links between neighbours in the big class. The GIN
index on attribute values is built after the load, and the link trigger is off for the bulk insert.

Then for each of three requests it prints p50/p95 over N runs of: the HTTP request through the app
(test client, sign-in session, page or JSON rendering; target p95 < 100 ms); the domain calls that
request makes, one tenant transaction per run; and their bare SQL: the very statements those calls
sent (captured once with a `before_cursor_execute` listener) replayed through psycopg on one
connection, one transaction per run with the same scope switch (target: domain ≤ 2× bare SQL, p95).
For the statement that reads the GIN index, it also prints its plan and time when prepared, under a
generic plan and under a custom plan. The floor of every HTTP figure is printed first: an empty tenant
page (`GET /api/t/<slug>/`: session, sign-in, membership and tenant scope, no things SQL).

- class search by name prefix: `GET /api/t/<slug>/things/classes?prefix=dev` (5,000 matches, first 50);
- things filtered by an attribute value: `GET /api/t/<slug>/things/classes/<big>/things?weight=500`
  (200 of the class's 200k things, first 50) and, for the record, `?status=retired` (a fifth of them);
- a thing detail page: `GET /t/<slug>/things/<id>` (HTML; values and related things both ways).

Also the time of `REFRESH MATERIALIZED VIEW CONCURRENTLY thing_class_summary`. The tenant is dropped at
the end. Run from the repository root: `python bench/things.py [--classes N] [--things N] [--requests N]`.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flask import Flask  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import Servers, app_config, migrate_public, p50, p95, servers, timed, verdict  # noqa: E402
from strata.accounts.service import create_user  # noqa: E402
from strata.db import db  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, get_tenant, tenant_context  # noqa: E402
from strata.things import query, schema, service, summary  # noqa: E402
from strata.things.access import Actor  # noqa: E402

P95_TARGET_MS, RATIO_TARGET = 100.0, 2.0
PASSWORD = "bench password 1"
KINDS = ["Device", "Building", "Contract", "Vehicle", "Person", "Site", "Sensor", "Project", "Invoice", "Asset",
         "Room", "Server", "Licence", "Supplier", "Order", "Ticket", "Machine", "Part", "Lease", "Account"]

# Static bench SQL (no user input).
LOAD = [
    ("classes", text("""
        INSERT INTO thing_classes (name, description, created_by)
        SELECT (CAST(:kinds AS text[]))[1 + g % 20] || ' ' || lpad(g::text, 6, '0'), 'Bench class ' || g, :user
        FROM generate_series(0, :classes - 1) g""")),
    ("attributes", text("""
        INSERT INTO attributes (name, label, data_type, enum_values, constraints) VALUES
          ('status', 'Status', 'enum', '["new", "active", "repair", "spare", "retired"]', '{}'),
          ('serial', 'Serial', 'string', '[]', '{"max_length": 40}'),
          ('weight', 'Weight', 'integer', '[]', '{"min": 0}')""")),
    ("assignments", text("""
        INSERT INTO attribute_assignments (thing_class_id, attribute_id, is_required, position)
        SELECT c.id, a.id, a.name = 'serial', a.id FROM thing_classes c CROSS JOIN attributes a""")),
    ("things", text("""
        INSERT INTO things (thing_class_id, name, attribute_values, created_by)
        SELECT CASE WHEN g < :big THEN :first
                    ELSE :first + 1 + (g - :big) % (:classes - 1) END,
               'thing ' || lpad(g::text, 7, '0'),
               jsonb_build_object('status', (ARRAY['new', 'active', 'repair', 'spare', 'retired'])[1 + g % 5],
                                  'serial', 'SN' || g, 'weight', g % 1000),
               :user
        FROM generate_series(0, :things - 1) g""")),
    ("relationship", text("""
        WITH t AS (INSERT INTO relationship_types (name, inverse_name) VALUES ('connects to', 'connected from')
                   RETURNING id)
        INSERT INTO thing_class_relationships (from_thing_class_id, to_thing_class_id, relationship_type_id,
                                               cardinality_rules, is_bidirectional)
        SELECT :first, :first, t.id, '{"type": "many_to_many"}', true FROM t""")),
    ("links", text("""
        INSERT INTO thing_relationships (class_relationship_id, from_thing_id, to_thing_id)
        SELECT (SELECT min(id) FROM thing_class_relationships), t.id, t.id + 1
        FROM things t WHERE t.thing_class_id = :first AND t.id < (SELECT min(id) FROM things) + :links""")),
]


def load(app: Flask, slug: str, classes: int, things: int) -> tuple[str, int, int]:
    """Create user, tenant and rows; return the user's email, the big class's id and a linked thing's id."""
    email = f"{slug}@bench.example.com"
    big, links = min(200_000, things // 5), min(100_000, things // 10)
    with app.app_context():
        user = create_user(email, PASSWORD, "Bench", hash_method=app.config["PASSWORD_HASH_METHOD"])
        tenant = create_tenant(slug, "Things bench", owner_id=user.id)
        with tenant_context(tenant.id):
            db.session.execute(text("DROP INDEX idx_things_values_gin"))
            db.session.execute(text("ALTER TABLE things DISABLE TRIGGER things_class_active"))
            db.session.execute(text("ALTER TABLE thing_relationships DISABLE TRIGGER thing_relationships_cardinality"))
        params = {"kinds": KINDS, "classes": classes, "things": things, "big": big, "links": links, "user": user.id}
        for name, statement in LOAD:
            start = time.perf_counter()
            with tenant_context(tenant.id):
                params["first"] = db.session.scalar(text("SELECT coalesce(min(id), 0) FROM thing_classes"))
                db.session.execute(statement, params)
            print(f"load: {name} in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        with tenant_context(tenant.id):
            db.session.execute(text("CREATE INDEX idx_things_values_gin ON things USING gin "
                                    "(attribute_values jsonb_path_ops)"))
            db.session.execute(text("ALTER TABLE things ENABLE TRIGGER things_class_active"))
            db.session.execute(text("ALTER TABLE thing_relationships ENABLE TRIGGER thing_relationships_cardinality"))
        with tenant_context(tenant.id):
            db.session.execute(text("ANALYZE"))
            counts = db.session.execute(text("SELECT (SELECT count(*) FROM thing_classes), "
                                             "(SELECT count(*) FROM things), "
                                             "(SELECT count(*) FROM thing_relationships)")).one()
            thing_id = db.session.scalar(text("SELECT min(id) + 10 FROM things"))
        print(f"load: GIN index and ANALYZE in {time.perf_counter() - start:.1f} s; "
              f"{counts[0]:,} classes, {counts[1]:,} things, {counts[2]:,} links")
        db.session.remove()
    return email, params["first"], thing_id



def captured(app: Flask, slug: str, work) -> list[tuple[str, object]]:
    """Return the SQL statements (with parameters) that one run of `work()` in the tenant sends."""
    seen: list[tuple[str, object]] = []

    def note(connection, cursor, statement, parameters, *args) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        tenant_id = get_tenant(slug).id
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            with tenant_context(tenant_id):
                work()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        db.session.remove()
    return seen


def bare_sql(app: Flask, slug: str, statements: list[tuple[str, object]], repeat: int) -> list[float]:
    """Time the statements replayed through psycopg, one transaction per run, scoped like the app's."""
    with app.app_context():
        scope = get_tenant(slug).scope()
        raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()

        def run():
            cursor.execute("SELECT set_config('role', %s, true), set_config('search_path', %s, true)",
                           (scope.role, scope.search_path))
            for statement, params in statements:
                cursor.execute(statement, params)
                if cursor.description:
                    cursor.fetchall()
            raw.rollback()

        return timed(run, repeat)
    finally:
        raw.close()


def domain(app: Flask, slug: str, work, repeat: int) -> list[float]:
    """Time `work()` through the domain functions, one tenant transaction per run (nothing cached between)."""
    with app.app_context():
        # The scope, as a request has it from its membership: a tenant id would load the tenant row on each
        # run (expunge_all empties the identity map), a statement the replayed bare SQL does not have.
        scope = get_tenant(slug).scope()

        def run():
            with tenant_context(scope):
                work()
            db.session.expunge_all()

        samples = timed(run, repeat)
        db.session.remove()
    return samples


def plans(app: Flask, slug: str, statement: str, params, repeat: int = 30) -> str:
    """Return the plan shape and p50 of `statement` run prepared (as psycopg does from its 5th run) under a
    generic plan and under a custom plan: what `SET LOCAL plan_cache_mode = force_custom_plan` changes."""
    with app.app_context():
        scope = get_tenant(slug).scope()
        raw = db.engine.raw_connection()
    out = []
    try:
        cursor = raw.cursor()
        for mode in ("force_generic_plan", "force_custom_plan"):
            cursor.execute("SELECT set_config('role', %s, true), set_config('search_path', %s, true), "
                           "set_config('plan_cache_mode', %s, true)", (scope.role, scope.search_path, mode))
            cursor.execute("EXPLAIN (COSTS OFF) " + statement, params, prepare=True)
            lines = [line for (line,) in cursor.fetchall()]
            nodes = [line.strip().removeprefix("->  ").split("  (")[0] for i, line in enumerate(lines)
                     if i == 0 or "->" in line or "Index Cond" in line]

            def run():
                cursor.execute(statement, params, prepare=True)
                cursor.fetchall()

            samples = timed(run, repeat)
            raw.rollback()
            out.append(f"{mode.split('_')[1]} plan p50 {p50(samples):.2f} ms: {' / '.join(nodes)}")
    finally:
        raw.close()
    return "\n  ".join(out)


def measure(app: Flask, client, slug: str, label: str, url: str, work, repeat: int) -> None:
    """Print the HTTP request's timings, its domain calls' and their bare SQL's (the same statements)."""
    def call():
        if client.get(url).status_code != 200:
            raise RuntimeError(f"GET {url} failed")

    http_ms = timed(call, repeat)
    statements = captured(app, slug, work)
    domain_ms = domain(app, slug, work, repeat)
    sql_ms = bare_sql(app, slug, statements, repeat)
    ratio = p95(domain_ms) / p95(sql_ms)
    print(f"{label}\n  GET {url}")
    print(f"  HTTP      p50 {p50(http_ms):7.2f} ms  p95 {p95(http_ms):7.2f} ms  "
          f"(target p95 < {P95_TARGET_MS:.0f} ms: {verdict(p95(http_ms) < P95_TARGET_MS)})")
    print(f"  domain    p50 {p50(domain_ms):7.2f} ms  p95 {p95(domain_ms):7.2f} ms")
    print(f"  bare SQL  p50 {p50(sql_ms):7.2f} ms  p95 {p95(sql_ms):7.2f} ms  ({len(statements)} statements)")
    print(f"  domain / bare SQL (p95) {ratio:.2f}×  (target ≤ {RATIO_TARGET:.0f}×: {verdict(ratio <= RATIO_TARGET)});"
          f"  HTTP / bare SQL (p95) {p95(http_ms) / p95(sql_ms):.2f}×")
    custom = [i for i, (statement, _) in enumerate(statements) if "plan_cache_mode" in statement]
    if custom:
        statement, params = statements[custom[0] + 1]
        print(f"  the GIN fallback statement, prepared:\n  {plans(app, slug, statement, params)}")


def refresh_time(app: Flask, slug: str) -> float:
    """Return the seconds one concurrent refresh of the summary view takes."""
    with app.app_context():
        with tenant_context(get_tenant(slug).id):
            seconds = summary.refresh()
        db.session.remove()
    return seconds


def run(where: Servers, classes: int, things: int, repeat: int) -> None:
    """Load the tenant, print the figures and drop the tenant."""
    app = create_app(app_config(where))
    slug = f"bench_things_{secrets.token_hex(3)}"
    server = migrate_public(app)
    print(f"Strata things bench: PostgreSQL {server} ({where.label}); tenant {slug}; {repeat} runs per figure")
    try:
        email, big, thing_id = load(app, slug, classes, things)
        client = app.test_client()
        if client.post("/login", data={"email": email, "password": PASSWORD}).status_code != 302:
            raise RuntimeError("sign-in failed")
        user_id = int(client.get(f"/api/t/{slug}/").get_json()["user"]["id"])
        actor = Actor(user_id, "admin")
        api = f"/api/t/{slug}/things"
        floor = timed(lambda: client.get(f"/api/t/{slug}/"), repeat)
        print(f"empty tenant page (GET /api/t/{slug}/: sign-in session, membership, tenant scope; no things SQL)\n"
              f"  HTTP      p50 {p50(floor):7.2f} ms  p95 {p95(floor):7.2f} ms")
        measure(app, client, slug, "class search by name prefix (first 50 of 5,000)",
                f"{api}/classes?prefix=dev", lambda: query.search_classes(actor, "dev"), repeat)
        for label, name, value in (("an attribute value (first 50 of 200 in a class of 200k)", "weight", "500"),
                                   ("a common value (first 50 of 40k in a class of 200k)", "status", "retired")):
            def filtered(name=name, value=value):
                model = schema.load_schema(actor, big, links=False)
                return query.list_things(actor, model, [query.Filter(name, "eq", value)])

            measure(app, client, slug, f"things filtered by {label}",
                    f"{api}/classes/{big}/things?{name}={value}", filtered, repeat)

        def detail():
            thing = service.get_thing(actor, thing_id)
            schema.load_schema(actor, thing.thing_class_id)
            return query.related(actor, [thing.id]).of(thing.id)

        measure(app, client, slug, "thing detail page (values, related things both ways)",
                f"/t/{slug}/things/{thing_id}", detail, repeat)
        print(f"summary view refresh (CONCURRENTLY, {classes:,} classes, {things:,} things): "
              f"{refresh_time(app, slug):.2f} s")
    finally:
        with app.app_context():
            drop_tenant(slug)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100_000, help="thing classes (default 100000)")
    parser.add_argument("--things", type=int, default=1_000_000, help="things (default 1000000)")
    parser.add_argument("--requests", type=int, default=200, help="timed runs per figure (default 200)")
    args = parser.parse_args()
    if args.classes < 100 or args.things < 1000 or args.requests < 20:
        parser.error("--classes ≥ 100, --things ≥ 1000 and --requests ≥ 20")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with servers("strata_bench_things") as where:
        run(where, args.classes, args.things, args.requests)
    # A missed target is a figure to report (marked MISSED above), not a failure of the script.
    return 0


if __name__ == "__main__":
    sys.exit(main())
