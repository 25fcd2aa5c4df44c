"""Shared set-up for the benchmarks: a throw-away database and Redis, app settings, percentiles.

`servers()` uses `BENCH_DATABASE_URL` (a fresh `strata_bench_<random>` database is created on
that server and dropped afterwards) or else an embedded PostgreSQL in a temporary folder, and
`BENCH_REDIS_URL` / `REDIS_URL` or else an embedded Redis.
"""

from __future__ import annotations

import atexit
import gc
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from config import normalise_database_url
from strata.runtime import create_database, drop_database, embedded_postgres, embedded_redis

# Created by the public migration on first use; cluster-wide like the tenant roles.
GROUP_ROLE = "strata_tenant"


@dataclass(frozen=True)
class Servers:
    """Where a benchmark runs: its own database (SQLAlchemy URL), a Redis and a label for the report."""

    database_url: str
    redis_url: str
    label: str


def admin_url(url: str) -> str:
    """Return the same server's `postgres` database as a plain psycopg URL."""
    parsed = make_url(normalise_database_url(url)).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


def _role_exists(admin: str, role: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _drop_group_role(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        try:
            conn.execute("DROP ROLE IF EXISTS strata_tenant")
        except psycopg.errors.DependentObjectsStillInUse:
            pass  # another Strata database on this server uses it: keep it


@contextmanager
def servers(database: str = "strata_bench") -> Iterator[Servers]:
    """Yield a fresh database and a Redis for one benchmark run; drop what was created afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    folder.chmod(0o755)  # as root, the embedded PostgreSQL runs as its own system user
    # atexit runs last-registered first: the embedded servers stop before their folder goes.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or ""
    redis_label = redis_url.split("@")[-1] if redis_url else "embedded Redis"
    redis_url = redis_url or embedded_redis(folder, persist=False)
    external = os.environ.get("BENCH_DATABASE_URL")
    if not external:
        url = embedded_postgres(folder, database=database)
        yield Servers(url, redis_url, f"embedded PostgreSQL, {redis_label}")
        return
    admin = admin_url(external)
    name = f"{database}_{secrets.token_hex(4)}"
    had_group_role = _role_exists(admin, GROUP_ROLE)
    create_database(admin, name)
    try:
        url = make_url(normalise_database_url(external)).set(database=name)
        label = f"PostgreSQL at {url.host or 'local socket'}:{url.port or 5432}/{name}, {redis_label}"
        yield Servers(url.render_as_string(hide_password=False), redis_url, label)
    finally:
        drop_database(admin, name)
        if not had_group_role:
            _drop_group_role(admin)


def drop_roles(prefix: str) -> int:
    """Drop every role named `prefix`… on the BENCH_DATABASE_URL server (after its database went); return how many."""
    from psycopg import sql

    with psycopg.connect(admin_url(os.environ["BENCH_DATABASE_URL"]), autocommit=True) as conn:
        pattern = prefix.replace("_", r"\_") + "%"
        roles = [r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (pattern,))]
        for start in range(0, len(roles), 500):
            names = sql.SQL(", ").join(map(sql.Identifier, roles[start:start + 500]))
            conn.execute(sql.SQL("DROP ROLE {}").format(names))
    return len(roles)


def app_config(servers: Servers, **overrides) -> dict:
    """Return a `create_app` mapping like the tests' (fast password hashing, no CSRF) plus `overrides`."""
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(16),
        "SQLALCHEMY_DATABASE_URI": servers.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5},
        "REDIS_URL": servers.redis_url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "TENANT_SCOPING": True,
        **overrides,
    }


def migrate_public(app) -> str:
    """Apply the public-schema migrations for `app`; return the server's version."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from strata.db import db

    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parents[1] / "migrations"))
        version = db.session.scalar(text("SHOW server_version"))
        db.session.remove()
    return version


def timed(fn, repeat: int) -> list[float]:
    """Return `repeat` timings of fn() in milliseconds (after a warm-up of a tenth as many, at least 5)."""
    for _ in range(max(5, repeat // 10)):
        fn()
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        gc.enable()
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"
