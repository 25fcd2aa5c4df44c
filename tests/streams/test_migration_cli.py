"""Migration t0005 up and down, the demo stream, and the simulator as `make run` starts it."""

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from strata.db import apply_scope, db
from strata.streams import service
from strata.streams.models import STREAM_PATHS, StreamMetadata
from strata.tenancy.service import tenant_context

ROOT = Path(__file__).resolve().parents[2]


def _migration():
    path = ROOT / "migrations/tenant/versions/t0005_streams.py"
    spec = importlib.util.spec_from_file_location("t0005_streams", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shape(schema: str) -> tuple[set, set]:
    tables = set(db.session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                                    {"s": schema}).scalars())
    columns = set(db.session.execute(text("SELECT column_name FROM information_schema.columns WHERE "
                                          "table_schema = :s AND table_name = 'companies'"), {"s": schema}).scalars())
    return tables, columns


def test_downgrade_removes_everything_and_upgrade_restores_it(app, tenant):
    migration = _migration()
    connection = db.session.connection()
    apply_scope(connection, tenant.scope())
    tables, columns = _shape(tenant.schema_name)
    assert {"stream_metadata", "stream_events_log"} <= tables
    assert {"stream_last_updated", "stream_event_id", "stream_event_type", "stream_processing_status"} <= columns
    with Operations.context(MigrationContext.configure(connection)):
        migration.downgrade()
        after_tables, after_columns = _shape(tenant.schema_name)
        assert not {"stream_metadata", "stream_events_log"} & after_tables
        assert not any(c.startswith("stream_") for c in after_columns) and "company_status" not in after_columns
        migration.upgrade()
    assert _shape(tenant.schema_name) == (tables, columns)
    db.session.rollback()


def test_demo_streams_point_at_the_simulator_once(app, tenant):
    slug, tenant_id = tenant.slug, tenant.id
    service.ensure_demo_stream(slug)
    service.ensure_demo_stream(slug)
    with tenant_context(tenant_id):
        streams = db.session.scalars(select(StreamMetadata).order_by(StreamMetadata.stream_type)).all()
        assert [s.stream_type for s in streams] == sorted(STREAM_PATHS)  # all nine, once
        assert all(s.url == "http://127.0.0.1:5055" + STREAM_PATHS[s.stream_type] and s.enabled and s.track_all
                   for s in streams)


def test_simulate_command_serves_the_protocol(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "streams", "simulate",
                                "--port", str(port), "--rate", "20", "--heartbeat", "0.5"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/companies", auth=("wrong", ""), timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        assert response.status_code == 401
        with httpx.stream("GET", f"http://127.0.0.1:{port}/companies", auth=("demo-stream-key", ""),
                          timeout=10) as stream:
            assert stream.status_code == 200
            body = b""
            for chunk in stream.iter_bytes():
                body += chunk
                if body.strip(b"\n").count(b"\n") >= 1:
                    break
        assert b'"resource_kind":"company-profile"' in body
    finally:
        process.terminate()
        process.wait(15)
