"""`flask up`: the whole product on one machine, stopped together with Ctrl-C.

This process holds the embedded PostgreSQL and Redis (when no URLs are configured), applies
migrations, ensures the demo data, then runs the workers and the web server (gunicorn, as in
production) as children that reach the same servers through DATABASE_URL / REDIS_URL. The
children run in their own sessions, so a Ctrl-C at the terminal reaches only this process,
which stops them first and the servers last.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import click
from flask import Flask

PR_SET_PDEATHSIG = 1  # linux/prctl.h

# Extra long-running children that features add: (name, full argv).
EXTRA_PROCESSES: list[tuple[str, list[str]]] = [
    ("stream-simulator", [sys.executable, "-m", "flask", "--app", "app:create_app",
                          "streams", "simulate", "--port", "5055"]),
]


@dataclass
class Child:
    name: str
    process: subprocess.Popen


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app:create_app", *args]


def child_environment(app: Flask) -> dict[str, str]:
    """Return the environment that points a child process at this stack's servers."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare(app: Flask) -> tuple[str, str]:
    """Migrate the public schema and every tenant, ensure the demo data; return the demo login."""
    from flask_migrate import upgrade

    from strata.demo import ensure_demo
    from strata.tenancy.service import migrate_tenants

    with app.app_context():
        upgrade(directory=os.path.join(app.root_path, "migrations"))
        report = migrate_tenants()
        if report.failed:
            raise click.ClickException(f"tenant migrations failed: {report.failed}")
        return ensure_demo(app.instance_path)


def check_port_free(host: str, port: int) -> None:
    """Raise ClickException when the web server could not listen on `host`:`port`."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror}") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            probe.bind(address)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is Strata already running? "
                f"Stop it first, or use another port: make run PORT={port + 1}"
            ) from exc


def _spawn(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen:
    """Start a child in its own session (so a terminal's Ctrl-C reaches only us) that dies with us on Linux."""
    preexec = None
    if sys.platform.startswith("linux"):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl

        def preexec() -> None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True, preexec_fn=preexec)


def web_server(host: str, port: int, workers: int = 2, threads: int = 4) -> list[str]:
    """Return the argv of the production web server, gunicorn, serving the app on `host`:`port`."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread", "--access-logfile", "-", "--graceful-timeout", "10", "app:create_app()"]


def _wait_until_serving(host: str, port: int, children: list[Child], stopped) -> bool:
    """Wait (at most a minute) for the web server to accept connections; False if a child died or we were stopped."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stopped() or any(c.process.poll() is not None for c in children):
            return False
        try:
            with socket.create_connection((target, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return True


def _stop_children(children: list[Child]) -> None:
    """SIGTERM each child (RQ: warm shutdown), again after 10 s (cold), then kill its process group."""
    for signum, grace in ((signal.SIGTERM, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        running = [c for c in children if c.process.poll() is None]
        if not running:
            return
        for child in running:
            try:
                if signum == signal.SIGKILL:
                    os.killpg(child.process.pid, signum)  # also the worker's scheduler and work horse
                else:
                    child.process.send_signal(signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for child in running:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def run_stack(app: Flask, host: str, port: int) -> None:
    """Run until Ctrl-C or until a child dies, then stop every child and the embedded servers."""
    from strata.runtime import release_embedded

    check_port_free(host, port)
    email, password = prepare(app)
    env = child_environment(app)
    specs = [
        # Stream consumers hold a worker for as long as they run, so they get their own; two
        # general workers let backfill segments run side by side.
        ("worker", _flask("worker", "--queues", "backfills,default")),
        ("worker-2", _flask("worker", "--queues", "backfills,default", "--no-scheduler")),
        ("streams-worker", _flask("worker", "--queues", "streams", "--no-scheduler")),
        ("cron", _flask("cron")),
        *EXTRA_PROCESSES,
        ("web", web_server(host, port)),
    ]

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    failed = False
    children: list[Child] = []
    try:
        for name, argv in specs:
            children.append(Child(name, _spawn(argv, env, app.root_path)))
        if _wait_until_serving(host, port, children, lambda: stopping):
            click.secho(f"\nStrata is running at http://{host}:{port}/", fg="green", bold=True)
            click.secho(f"Sign in as {email} with password {password}", fg="green")
            click.echo("Press Ctrl-C to stop everything.\n")
        while not stopping:
            dead = next((c for c in children if c.process.poll() is not None), None)
            if dead is not None:
                click.secho(f"{dead.name} exited with {dead.process.returncode}; stopping.", fg="red", err=True)
                failed = True
                break
            time.sleep(0.5)
    finally:
        click.echo("Stopping…")
        _stop_children(children)
        release_embedded()
        click.echo("Stopped.")
    if failed:
        sys.exit(1)
