"""Worker commands: `flask worker` and `flask cron`, each building the app once."""

from __future__ import annotations

import click
from flask import Flask, current_app


@click.command("worker")
@click.option("--queues", "-q", default="streams,backfills,default", help="Comma-separated queue names.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run RQ's scheduler in this worker.")
def worker(queues: str, burst: bool, no_scheduler: bool) -> None:
    """Run an RQ worker (with the scheduler) for this app, built once."""
    from workers.runner import run_worker

    run_worker(current_app._get_current_object(), queues.split(","), burst=burst, with_scheduler=not no_scheduler)


@click.command("cron")
def cron() -> None:
    """Enqueue the periodic jobs (stream supervisor, schedule tick, sweeps) on time until stopped."""
    from strata.core import queues
    from workers.periodic import build_scheduler

    build_scheduler(queues.connection).start()


def register_cli(app: Flask) -> None:
    """Add `flask worker` and `flask cron` to the app's command line."""
    app.cli.add_command(worker)
    app.cli.add_command(cron)
