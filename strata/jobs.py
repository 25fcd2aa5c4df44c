"""Jobs by name: the one registry between the domain and the RQ job functions.

Job functions live in `workers/` and declare themselves with `@job("feature.name", queue=…)`;
domain code and views enqueue them by that name (`jobs.enqueue("things.refresh_summary",
tenant_id)`) and so never import `workers/`. The app factory loads the worker modules once,
which fills the registry in the web process, in `flask worker` and in its work horses alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rq import Queue, Retry
from rq.job import Job

from strata.core import queues


@dataclass(frozen=True)
class JobSpec:
    """Where and how a job runs: its queue, its timeout in seconds (-1: none) and its retry policy."""

    queue: str = "default"
    timeout: int = 600
    retry: Retry | None = None


_registry: dict[str, Callable] = {}


def job(name: str | None = None, *, queue: str = "default", timeout: int = 600, retry: Retry | None = None,
        tenant: bool = True) -> Callable[[Callable], Callable]:
    """Declare and register a job under `name` (default: its module and function name).

    With `tenant=True` its first argument is a tenant id and it runs inside that tenant's context.
    """

    def decorate(func: Callable) -> Callable:
        if tenant:
            @functools.wraps(func)
            def run(tenant_id: int, *args, **kwargs):
                from strata.tenancy.service import tenant_context

                with tenant_context(tenant_id):
                    return func(*args, **kwargs)
        else:
            run = func
        run.spec = JobSpec(queue, timeout, retry)
        run.job_name = name or f"{func.__module__.removeprefix('workers.')}.{func.__qualname__}"
        _registry[run.job_name] = run
        return run

    return decorate


def lookup(name: str) -> Callable:
    """Return the job function registered under `name`; raise LookupError naming it when there is none."""
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no job is registered as {name!r} (the app factory loads workers/)") from None


def names() -> list[str]:
    """Return the registered job names, sorted."""
    return sorted(_registry)


def _resolve(target: str | Callable) -> Callable:
    return lookup(target) if isinstance(target, str) else target


def enqueue(target: str | Callable, *args, job_id: str | None = None, depends_on=None, **kwargs) -> Job:
    """Put the job `target` (a registered name, or a job function) on its declared queue; return the RQ job."""
    func = _resolve(target)
    spec: JobSpec = func.spec
    return queues.queue(spec.queue).enqueue_call(
        func, args=args, kwargs=kwargs, job_id=job_id, timeout=spec.timeout, retry=spec.retry, depends_on=depends_on
    )


def enqueue_many(target: str | Callable, calls: Iterable[tuple]) -> list[Job]:
    """Put one job `target(*args)` per tuple of `calls` on its queue in a single round trip; return the jobs."""
    func = _resolve(target)
    spec: JobSpec = func.spec
    prepared = [Queue.prepare_data(func, args=args, timeout=spec.timeout, retry=spec.retry) for args in calls]
    if not prepared:
        return []
    return queues.queue(spec.queue).enqueue_many(prepared)
