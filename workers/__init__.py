"""RQ jobs. Each job is a function declared with `@job` (its queue, timeout and retry in one place);
tenant jobs take the tenant id first and run inside that tenant's context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from rq import Retry
from rq.job import Job

from strata.core import queues
from strata.tenancy.service import tenant_context


@dataclass(frozen=True)
class JobSpec:
    queue: str = "default"
    timeout: int = 600
    retry: Retry | None = None


def job(queue: str = "default", timeout: int = 600, retry: Retry | None = None, tenant: bool = True):
    """Declare a job. With `tenant=True` its first argument is a tenant id and it runs in that tenant."""

    def decorate(func: Callable) -> Callable:
        if tenant:
            @functools.wraps(func)
            def run(tenant_id: int, *args, **kwargs):
                with tenant_context(tenant_id):
                    return func(*args, **kwargs)
        else:
            run = func
        run.spec = JobSpec(queue, timeout, retry)
        return run

    return decorate


def enqueue(func: Callable, *args, job_id: str | None = None, depends_on=None, **kwargs) -> Job:
    """Put `func(*args, **kwargs)` on its declared queue and return the RQ job."""
    spec: JobSpec = func.spec
    return queues.queue(spec.queue).enqueue_call(
        func, args=args, kwargs=kwargs, job_id=job_id, timeout=spec.timeout, retry=spec.retry, depends_on=depends_on
    )
