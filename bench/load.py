"""Load benchmark: gunicorn and an RQ worker under 20 concurrent clients across many tenants.

gunicorn serves the app on 127.0.0.1 (`--workers`, four gthread threads each) with one RQ worker
beside it, over BENCH_DATABASE_URL / BENCH_REDIS_URL (the machine's PostgreSQL and Redis) or the
embedded servers. One user is a member of `--tenants` tenants. `--clients` threads, each with its
own signed-in session, then request for `--seconds` a mix across random tenants: the dashboard,
the things, reports, extensions and streams pages, the thing classes over the JSON API, and one
request in ten an API write (a new attribute, with a bearer token). Then the same clients hit
the bare `/healthz` for `--bare-seconds` on the same stack.

Printed: requests/s, p50/p95/p99 and errors of the mix (targets: ≥ 290/s, twice the 145/s measured
before; p99 < 150 ms; 0 errors), and the ratio to the bare endpoint's requests/s.
Run from the repository root: `python bench/load.py [--tenants 100] [--clients 20] [--seconds 60]`.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import app_config, migrate_public, servers, verdict  # noqa: E402

PASSWORD = "correct horse battery staple"
RATE_TARGET, P99_TARGET_MS = 290.0, 150.0
PAGES = ["/t/{slug}/", "/t/{slug}/things/", "/t/{slug}/reports/", "/t/{slug}/extensions/",
         "/t/{slug}/streams/", "/api/t/{slug}/things/classes"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(found, tenants: int, role_prefix: str) -> tuple[list[str], str, str]:
    """Create the schema, the tenants and one member of all; return (slugs, email, API token)."""
    from strata.accounts.models import Membership
    from strata.accounts.service import create_user
    from strata.accounts.tokens import create_token
    from strata.db import db
    from strata.tenancy.service import create_tenant

    app = create_app(app_config(found, DB_ROLE_PREFIX=role_prefix))
    migrate_public(app)
    slugs = []
    with app.app_context():
        email = f"load-{secrets.token_hex(4)}@example.com"
        user = create_user(email, PASSWORD, "Load", hash_method="pbkdf2:sha256:1000")
        user_id = user.id
        began = time.perf_counter()
        for i in range(tenants):
            tenant = create_tenant(f"load_{i:05d}", f"Load tenant {i}")
            db.session.add(Membership(user_id=user_id, tenant_id=tenant.id, role="admin"))
            db.session.commit()
            slugs.append(tenant.slug)
        print(f"set-up: {tenants} tenants in {time.perf_counter() - began:.1f} s")
        _, token = create_token(user_id, "load bench")
        db.session.remove()
        db.engine.dispose()
    return slugs, email, token


def _start(found, port: int, workers: int, role_prefix: str) -> list[subprocess.Popen]:
    from strata.devstack import web_server

    env = {**os.environ, "DATABASE_URL": found.database_url, "REDIS_URL": found.redis_url,
           "SECRET_KEY": secrets.token_hex(16), "STRATA_ENV": "development", "DB_ROLE_PREFIX": role_prefix,
           "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "PYTHONUNBUFFERED": "1"}
    web = web_server("127.0.0.1", port, workers=workers, threads=4)
    web = [*web[:-1], "--access-logfile", "/dev/null", "--log-level", "warning", web[-1]]
    worker = [sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--queues", "backfills,default"]
    processes = [subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL if argv is worker else None) for argv in (web, worker)]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return processes
        except httpx.HTTPError:
            time.sleep(0.3)
    _stop(processes)
    raise SystemExit("gunicorn did not answer /healthz within 90 s")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _signed_in(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)[1]
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    return client


def _drive(client: httpx.Client, slugs: list[str], token: str, until: float, bare: bool,
           samples: list[float], errors: list[str], lock: threading.Lock) -> None:
    rng = random.Random()
    mine: list[float] = []
    failed: list[str] = []
    while time.monotonic() < until:
        slug = rng.choice(slugs)
        if bare:
            request = {"method": "GET", "url": "/healthz"}
        elif rng.random() < 0.1:
            request = {"method": "POST", "url": f"/api/t/{slug}/things/attributes",
                       "headers": {"Authorization": f"Bearer {token}"},
                       "json": {"name": f"a{secrets.token_hex(6)}", "label": "Load", "data_type": "string"}}
        else:
            request = {"method": "GET", "url": rng.choice(PAGES).format(slug=slug)}
        started = time.perf_counter()
        try:
            status = client.request(**request).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        mine.append((time.perf_counter() - started) * 1000)
        if not isinstance(status, int) or status >= 400:
            failed.append(f"{request['method']} {request['url']}: {status}")
    with lock:
        samples.extend(mine)
        errors.extend(failed)


def _run(base: str, clients: list[httpx.Client], slugs, token, seconds: float, bare: bool):
    samples: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_drive, args=(c, slugs, token, until, bare, samples, errors, lock))
               for c in clients]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, errors, time.perf_counter() - began


def _quantile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bare-seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    args = parser.parse_args()
    role_prefix = f"l{secrets.token_hex(3)}_"
    try:
        with servers("strata_load") as found:
            slugs, email, token = _setup(found, args.tenants, role_prefix)
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            processes = _start(found, port, args.workers, role_prefix)
            try:
                clients = [_signed_in(base, email) for _ in range(args.clients)]
                _run(base, clients, slugs, token, min(10.0, args.seconds / 6), bare=False)  # warm every worker
                mix, errors, took = _run(base, clients, slugs, token, args.seconds, bare=False)
                bare, bare_errors, bare_took = _run(base, clients, slugs, token, args.bare_seconds, bare=True)
            finally:
                _stop(processes)
    finally:
        if "BENCH_DATABASE_URL" in os.environ:
            from bench._common import drop_roles

            drop_roles(role_prefix)
    rate, bare_rate = len(mix) / took, len(bare) / bare_took
    p99 = _quantile(mix, 99)
    print(f"Strata load bench: {args.clients} clients × {args.seconds:.0f} s over {args.tenants} tenants, "
          f"gunicorn {args.workers} workers × 4 threads + 1 RQ worker ({found.label})")
    print(f"  mix      {rate:7.1f} req/s (target ≥ {RATE_TARGET:.0f}) {verdict(rate >= RATE_TARGET)}   "
          f"p50 {_quantile(mix, 50):6.1f} ms  p95 {_quantile(mix, 95):6.1f} ms  "
          f"p99 {p99:6.1f} ms (target < {P99_TARGET_MS:.0f}) {verdict(p99 < P99_TARGET_MS)}")
    print(f"  errors   {len(errors)} of {len(mix)} (target 0) {verdict(not errors)}"
          + (f"; e.g. {errors[0]}" if errors else ""))
    print(f"  /healthz {bare_rate:7.1f} req/s  p50 {_quantile(bare, 50):6.1f} ms  errors {len(bare_errors)};  "
          f"mix / bare = {rate / bare_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
