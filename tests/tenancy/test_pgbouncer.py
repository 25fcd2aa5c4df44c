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
    # What DB_PREPARED_STATEMENTS=off sets: PgBouncer 1.18 cannot carry server-side prepared statements.
    app = make_app(SQLALCHEMY_DATABASE_URI=pgbouncer_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 2, "max_overflow": 0, "connect_args": {"prepare_threshold": None}})
    before = _transactions(pgbouncer_url)
    check_alternating_tenants(app, make_user, make_tenant, pool_size=2)
    assert _transactions(pgbouncer_url) - before >= 20


def test_prepared_statements_off_lets_connections_share_a_server_connection(pgbouncer_url):
    """With psycopg's default, a second client reusing a query on the shared server connection collides;
    DB_PREPARED_STATEMENTS=off leaves nothing prepared on the server."""
    from config import load_settings

    settings = load_settings("/nonexistent", {"DATABASE_URL": pgbouncer_url, "REDIS_URL": "redis://127.0.0.1:1",
                                              "SECRET_KEY": "x", "DB_PREPARED_STATEMENTS": "off"})
    plain = pgbouncer_url.replace("+psycopg", "")

    def interleave(**connect_args) -> None:
        with psycopg.connect(plain, **connect_args) as one, psycopg.connect(plain, **connect_args) as two:
            for _ in range(8):
                for conn in (one, two):
                    conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s", ("pg_class",)).fetchone()
                    conn.commit()

    with pytest.raises(psycopg.Error, match="prepared statement"):
        interleave()
    interleave(**settings["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"])
