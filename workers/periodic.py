"""Periodic jobs: declared with `@periodic(seconds)` next to the feature's other jobs, enqueued by one
RQ cron scheduler (`flask cron`) and run by the ordinary workers.

A periodic job is platform-wide (it takes no tenant id); it walks the tenants itself and must be safe
to run twice at once (claim rows with `FOR UPDATE SKIP LOCKED`, or hold a Redis lock), because a
second `flask cron` or a slow previous run can overlap it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from rq.cron import CronScheduler

# Modules whose import declares periodic jobs; a feature adds its `workers.<feature>` here.
FEATURE_MODULES: list[str] = [
    "workers.streams",
    "workers.reports",
]


@dataclass(frozen=True)
class Periodic:
    func: Callable
    every: int
    queue: str
    timeout: int


_registry: dict[str, Periodic] = {}


def periodic(every: int, queue: str = "default", timeout: int = 300):
    """Declare `func` as a job enqueued every `every` seconds on `queue`."""

    def decorate(func: Callable) -> Callable:
        _registry[f"{func.__module__}.{func.__qualname__}"] = Periodic(func, every, queue, timeout)
        return func

    return decorate


def declared() -> list[Periodic]:
    """Return every periodic job of the feature modules, in a stable order."""
    for name in FEATURE_MODULES:
        importlib.import_module(name)
    return [_registry[key] for key in sorted(_registry)]


def build_scheduler(connection) -> CronScheduler:
    """Return an RQ cron scheduler with every declared periodic job registered."""
    scheduler = CronScheduler(connection=connection)
    for job in declared():
        scheduler.register(job.func, queue_name=job.queue, interval=job.every, job_timeout=job.timeout,
                           name=f"{job.func.__module__}.{job.func.__qualname__}")
    return scheduler
