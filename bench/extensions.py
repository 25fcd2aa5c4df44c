"""Extensions benchmark: registration, migrations, a 1,000-column table and the auto REST API on 1M rows.

In one throw-away tenant it prints:

- register + validate of the example manifest (parse, rules, catalog checks, plan, stored pending migration):
  p50 of 20 plugins; target < 100 ms (seed: 1 s);
- apply of that simple schema (advisory lock, timeouts, DDL, registry update): p50 of the same 20; target < 500 ms
  (seed: 5 s);
- register + apply of a table with 1,000 columns;
- `GET /api/t/<slug>/x/bench/item/<id>` and a filtered, ordered, counted list
  (`stage=eq.won&score=gte.995&order=score.desc&limit=20`) on 1,000,000 rows loaded with
  INSERT … SELECT generate_series: p50 / p95; target p50 < 10 ms (seed: 100 ms);
- an unfiltered page in the default order (`?limit=20`, read from the (created_at, id) index, total exact
  up to a bound and the planner's estimate beyond): p50 / p95; target p50 < 10 ms (it took 160–390 ms
  while nothing indexed the default order and every page counted all rows);
- peak RSS of the process; target < 500 MB (seed).

The tenant is dropped at the end, also on failure. Run: `python bench/extensions.py [--rows N] [--requests N]`.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import resource
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import Servers, app_config, migrate_public, p50, p95, servers, timed, verdict  # noqa: E402
from strata.accounts.service import create_user  # noqa: E402
from strata.db import db  # noqa: E402
from strata.extensions import executor, registry  # noqa: E402
from strata.extensions.ddl import ident  # noqa: E402
from strata.tenancy.service import create_tenant, drop_tenant, tenant_context  # noqa: E402

PASSWORD = "bench password 1"
REGISTER_MS, APPLY_MS, GET_P50_MS, RSS_MB = 100.0, 500.0, 10.0, 500.0
SIMPLE = {
    "pluginId": "crm", "version": "1.0.0", "metadata": {"namespace": "crm"},
    "enums": [{"name": "stage", "values": ["lead", "won", "lost"]}],
    "tables": [{"name": "deal", "fields": [
        {"name": "title", "type": "String", "required": True, "validation": {"maxLength": 80}},
        {"name": "amount", "type": "Decimal", "validation": {"min": 0}},
        {"name": "stage", "type": "stage", "required": True, "default": "lead"},
        {"name": "closes_on", "type": "DateTime"}],
        "indexes": [{"fields": ["stage"]}], "uniqueConstraints": [{"fields": ["title"]}]}],
    "relationships": [{"source": "deal", "sourceField": "company_id", "target": "companies", "type": "OneToMany"}],
}
ITEMS = {
    "pluginId": "bench", "version": "1.0.0", "metadata": {"namespace": "bench"},
    "enums": [{"name": "stage", "values": ["lead", "won", "lost"]}],
    "tables": [{"name": "item", "fields": [
        {"name": "title", "type": "String", "required": True},
        {"name": "amount", "type": "Decimal"},
        {"name": "score", "type": "Int", "required": True},
        {"name": "stage", "type": "stage", "required": True}],
        "indexes": [{"fields": ["stage", "score"]}]}],
}
LOAD = text("""
    INSERT INTO plugin_bench_item (title, amount, score, stage)
    SELECT 'Item ' || g, (g % 100000) / 100.0, g % 1000, (ARRAY['lead', 'won', 'lost'])[1 + g % 3]::plugin_bench_stage
    FROM generate_series(1, :n) AS g""")
LIST_QUERY = "?stage=eq.won&score=gte.995&order=score.desc&limit=20"
UNFILTERED_QUERY = "?limit=20"


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def bench_register_apply(runs: int) -> tuple[list[float], list[float]]:
    """Register and apply `runs` copies of the simple manifest under distinct plugin ids and namespaces."""
    register, apply = [], []
    for i in range(runs):
        data = copy.deepcopy(SIMPLE)
        data["pluginId"], data["metadata"]["namespace"] = f"crm{i}", f"crm{i}"
        start = time.perf_counter()
        registry.register(data)
        db.session.commit()
        register.append(ms(start))
        start = time.perf_counter()
        executor.execute(data["pluginId"])
        apply.append(ms(start))
    return register, apply


def bench_wide_table(columns: int) -> tuple[float, float]:
    """Return (register ms, apply ms) of a table with `columns` fields."""
    # Mostly flags, with text and numbers: a full row still fits one 8 kB page (see checks.row_width).
    kinds = ("String", "Int", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Boolean", "Float")
    fields = [{"name": f"c{i:04}", "type": kinds[i % len(kinds)]} for i in range(columns)]
    data = {"pluginId": "wide", "version": "1.0.0", "metadata": {"namespace": "wide"},
            "tables": [{"name": "t", "fields": fields}]}
    start = time.perf_counter()
    registry.register(data)
    db.session.commit()
    registered = ms(start)
    start = time.perf_counter()
    executor.execute("wide")
    return registered, ms(start)



def bench_rest(app, slug: str, email: str, repeat: int) -> tuple[list[list[float]], int, str]:
    """Time the REST get, the filtered list, the unfiltered page and the bare tenant API root, interleaved so
    load hits all alike; return the samples, the filtered total and the unfiltered page's total."""
    client = app.test_client()
    if client.post("/login", data={"email": email, "password": PASSWORD}).status_code != 302:
        raise RuntimeError("sign-in failed")
    base = f"/api/t/{slug}/x/bench/item"
    first = client.get(base + LIST_QUERY)
    if first.status_code != 200:
        raise RuntimeError(f"list answered {first.status_code}: {first.get_data(as_text=True)[:300]}")
    body = first.get_json()
    unfiltered = client.get(base + UNFILTERED_QUERY).get_json()
    shown = f"{'' if unfiltered['total_exact'] else 'about '}{unfiltered['total']:,}"
    urls = (f"{base}/{body['items'][0]['id']}", base + LIST_QUERY, base + UNFILTERED_QUERY, f"/api/t/{slug}/")
    samples: list[list[float]] = [[], [], [], []]
    for _ in range(max(5, repeat // 10)):
        for url in urls:
            client.get(url)
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for i, url in enumerate(urls):
                start = time.perf_counter()
                if client.get(url).status_code != 200:
                    raise RuntimeError(f"GET {url} failed")
                samples[i].append(ms(start))
    finally:
        gc.enable()
    return samples, body["total"], shown


def bench_domain(app, slug: str, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """Time the same get, list and unfiltered page through the domain (runtime tables + rest), without HTTP,
    session or membership."""
    from strata.extensions import rest, runtime
    from strata.tenancy.service import get_tenant

    with app.app_context(), tenant_context(get_tenant(slug).id):
        spec = runtime.table("bench", "item")
        filters = rest.parse_filters(spec, [("stage", ["eq.won"]), ("score", ["gte.995"])])
        order = rest.parse_order(spec, "score.desc")
        row_id = rest.list_rows(spec, filters, order, 1, 0).rows[0]["id"]
        get = timed(lambda: rest.get_row(runtime.table("bench", "item"), row_id), repeat)
        listing = timed(lambda: rest.list_rows(runtime.table("bench", "item"), filters, order, 20, 0), repeat)
        page = timed(lambda: rest.list_rows(runtime.table("bench", "item"), [], [], 20, 0), repeat)
        db.session.rollback()
    return get, listing, page


def run(where: Servers, rows: int, repeat: int) -> None:
    """Create the tenant, run every measurement, print the figures and drop the tenant."""
    app = create_app(app_config(where))
    slug = f"bench_ext_{secrets.token_hex(3)}"
    server = migrate_public(app)
    print(f"Strata extensions bench: PostgreSQL {server} ({where.label}); tenant {slug}")
    email = f"{slug}@bench.example.com"
    try:
        with app.app_context():
            user = create_user(email, PASSWORD, "Bench", hash_method=app.config["PASSWORD_HASH_METHOD"])
            tenant = create_tenant(slug, "Extensions bench", owner_id=user.id)
            with tenant_context(tenant.id):
                register, apply = bench_register_apply(20)
                wide_register, wide_apply = bench_wide_table(1000)
                registry.register(ITEMS)
                db.session.commit()
                executor.execute("bench")
                start = time.perf_counter()
                db.session.execute(LOAD, {"n": rows})
                db.session.commit()
            # VACUUM cannot run in a transaction: an autocommit connection, as the app's role (a member of the owner).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql(f"VACUUM ANALYZE {ident(tenant.schema_name, 'plugin_bench_item')}")
            print(f"load: {rows:,} rows into plugin_bench_item in {(time.perf_counter() - start):.1f} s")
            db.session.remove()
        (get, listing, page, root), total, shown = bench_rest(app, slug, email, repeat)
        domain_get, domain_list, domain_page = bench_domain(app, slug, repeat)
    finally:
        with app.app_context():
            drop_tenant(slug)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"register + validate (simple schema, 20 plugins)  p50 {p50(register):7.1f} ms  p95 {p95(register):7.1f} ms"
          f"  (target < {REGISTER_MS:.0f} ms, seed 1 s: {verdict(p50(register) < REGISTER_MS)})")
    print(f"apply (simple schema, 20 plugins)               p50 {p50(apply):7.1f} ms  p95 {p95(apply):7.1f} ms"
          f"  (target < {APPLY_MS:.0f} ms, seed 5 s: {verdict(p50(apply) < APPLY_MS)})")
    print(f"1,000-column table                              register {wide_register:7.1f} ms  "
          f"apply {wide_apply:7.1f} ms")
    print(f"REST on {rows:,} rows ({repeat} requests each)")
    print(f"  GET one row                  p50 {p50(get):6.2f} ms  p95 {p95(get):6.2f} ms"
          f"  (target p50 < {GET_P50_MS:.0f} ms, seed 100 ms: {verdict(p50(get) < GET_P50_MS)})")
    print(f"  filtered list ({total:,} match) p50 {p50(listing):6.2f} ms  p95 {p95(listing):6.2f} ms"
          f"  (target p50 < {GET_P50_MS:.0f} ms, seed 100 ms: {verdict(p50(listing) < GET_P50_MS)})")
    print(f"  unfiltered page (total {shown}) p50 {p50(page):6.2f} ms  p95 {p95(page):6.2f} ms"
          f"  (target p50 < {GET_P50_MS:.0f} ms; was 160–390 ms: {verdict(p50(page) < GET_P50_MS)})")
    print(f"  for reference, without HTTP: get p50 {p50(domain_get):.2f} ms, list p50 {p50(domain_list):.2f} ms, "
          f"unfiltered page p50 {p50(domain_page):.2f} ms; "
          f"the tenant API root (session, membership, scope; no extension code) p50 {p50(root):.2f} ms")
    print(f"peak RSS {rss:.0f} MB  (seed < {RSS_MB:.0f} MB: {verdict(rss < RSS_MB)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the REST table (default 1000000)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per variant (default 300)")
    args = parser.parse_args()
    if args.rows < 1000 or args.requests < 20:
        parser.error("--rows must be at least 1000 and --requests at least 20")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with servers("strata_bench_ext") as where:
        run(where, args.rows, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
