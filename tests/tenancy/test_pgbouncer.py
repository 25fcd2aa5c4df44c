"""Behind PgBouncer in transaction pooling mode, tenants stay isolated on shared server connections."""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from strata.db import db
from tests.tenancy.test_isolation import check_alternating_tenants

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pgbouncer_url(database_url):
    """A PgBouncer (transaction pooling, one server connection) in front of the test database."""
    if PGBOUNCER is None:
        pytest.skip("Debian's pgbouncer is not installed (make test installs it: apt-get install pgbouncer)")
    url = make_url(database_url)
    host = url.query.get("host") or url.host or "127.0.0.1"
    port = _free_port()
    # Its own folder, reachable by the user PgBouncer runs as.
    folder = Path(tempfile.mkdtemp(prefix="strata-pgbouncer-"))
    folder.chmod(0o777)
    config = folder / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{url.database} = host={host} port={url.port or 5432} dbname={url.database} user={url.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 50\n"
        f"admin_users = {url.username}\nignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
    )
    config.chmod(0o644)
    # PgBouncer refuses to run as root; the embedded server's own user will do.
    as_user = ["-u", "pgserver"] if Path("/proc/self").owner() == "root" else []
    process = subprocess.Popen([PGBOUNCER, *as_user, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bouncer = f"postgresql+psycopg://{url.username}@127.0.0.1:{port}/{url.database}"
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(bouncer.replace("+psycopg", ""), connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = (folder / "pgbouncer.log").read_text() if (folder / "pgbouncer.log").exists() else ""
                pytest.fail(f"pgbouncer did not start: {log[-2000:]}")
            time.sleep(0.1)
    yield bouncer
    process.terminate()
    process.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def _transactions(bouncer_url: str) -> int:
    """Transactions PgBouncer has passed to the test database (from its admin console)."""
    admin = make_url(bouncer_url.replace("+psycopg", "")).set(database="pgbouncer")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True,
                         prepare_threshold=None) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW STATS")
        names = [c.name for c in cursor.description]
        database = make_url(bouncer_url).database
        return sum(row[names.index("total_xact_count")] for row in cursor if row[0] == database)


def test_alternating_tenants_through_pgbouncer_transaction_pooling(make_app, make_user, make_tenant, pgbouncer_url):
    """Two pooled client connections share PgBouncer's single server connection, transaction by transaction."""
    app = make_app(SQLALCHEMY_DATABASE_URI=pgbouncer_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 0})
    before = _transactions(pgbouncer_url)
    check_alternating_tenants(app, make_user, make_tenant, pool_size=2)
    assert _transactions(pgbouncer_url) - before >= 20


def test_app_connections_share_pgbouncer_server_connection_without_prepared_statements(make_app, pgbouncer_url):
    """psycopg's default prepares a repeated query on the server; two clients then collide on the one
    server connection. The app's connections prepare nothing, so the same interleaving works."""
    plain = pgbouncer_url.replace("+psycopg", "")
    query = "SELECT count(*) FROM pg_class WHERE relname = %s"

    def interleave(one, two, execute) -> None:
        for _ in range(8):
            for conn in (one, two):
                execute(conn)

    with psycopg.connect(plain) as one, psycopg.connect(plain) as two:
        with pytest.raises(psycopg.Error, match="prepared statement"):
            interleave(one, two, lambda conn: (conn.execute(query, ("pg_class",)).fetchone(), conn.commit()))
    app = make_app(SQLALCHEMY_DATABASE_URI=pgbouncer_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 0})
    with app.app_context(), db.engine.connect() as one, db.engine.connect() as two:
        def run(conn):
            assert conn.exec_driver_sql(query, ("pg_class",)).scalar() == 1
            conn.commit()

        interleave(one, two, run)
