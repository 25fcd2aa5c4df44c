"""`flask up`: the whole product on one machine, stopped together with Ctrl-C.

This process owns the embedded PostgreSQL and Redis (when no URLs are configured), applies
migrations, ensures the demo data, then runs the worker and the web server as children
that reach the same servers through DATABASE_URL / REDIS_URL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click
from flask import Flask

# Extra long-running children that features add (name, argv after `flask`).
EXTRA_PROCESSES: list[tuple[str, list[str]]] = []


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


def run_stack(app: Flask, host: str, port: int) -> None:
    """Run until Ctrl-C or until a child dies, then stop every child."""
    email, password = prepare(app)
    env = child_environment(app)
    specs = [
        ("worker", _flask("worker")),
        *EXTRA_PROCESSES,
        ("web", _flask("run", "--host", host, "--port", str(port), "--no-reload", "--with-threads")),
    ]
    children = [Child(name, subprocess.Popen(argv, env=env, cwd=app.root_path)) for name, argv in specs]
    click.secho(f"\nStrata is running at http://{host}:{port}/", fg="green", bold=True)
    click.secho(f"Sign in as {email} with password {password}", fg="green")
    click.echo("Press Ctrl-C to stop everything.\n")

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            dead = next((c for c in children if c.process.poll() is not None), None)
            if dead is not None:
                click.secho(f"{dead.name} exited with {dead.process.returncode}; stopping.", fg="red", err=True)
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
        click.echo("Stopped.")
