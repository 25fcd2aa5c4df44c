"""Starting RQ workers for the app: the app is built once, each forked work horse gets fresh connections."""

from __future__ import annotations

import logging

from flask import Flask
from rq import Queue, Worker

from strata.core import queues
from strata.db import db


class StrataWorker(Worker):
    """An RQ worker whose forked work horse never reuses the parent's database connections."""

    def main_work_horse(self, job, queue):
        # The forked horse shares the parent's sockets. Using one would interleave with the
        # parent's transaction (a SET LOCAL could even land outside any transaction), and
        # closing one would end the parent's. So the horse keeps the inherited session and
        # pool referenced but unused, and starts with a fresh session and pool of its own.
        self._inherited_session = db.session.registry()
        db.session.registry.clear()
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


def make_worker(app: Flask, queue_names: list[str], name: str | None = None) -> StrataWorker:
    """Return a worker on `queue_names` bound to the app's Redis (call inside the app context)."""
    connection = queues.connection
    return StrataWorker([Queue(n, connection=connection) for n in queue_names], connection=connection, name=name)


def run_worker(app: Flask, queue_names: list[str], *, burst: bool = False, with_scheduler: bool = True) -> bool:
    """Work the queues until stopped (or until empty with `burst`); return whether any job ran."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with app.app_context():
        worker = make_worker(app, queue_names)
        return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO")


class AppWorker(StrataWorker):
    """For `rq worker -w workers.runner.AppWorker` or `rq worker-pool -w …`: builds the app from the
    environment (DATABASE_URL, REDIS_URL, SECRET_KEY…) once, and works inside its context."""

    def __init__(self, *args, **kwargs):
        from app import create_app

        self.app = create_app()
        self.app.app_context().push()
        super().__init__(*args, **kwargs)
