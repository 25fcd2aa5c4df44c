"""RQ jobs. Each job is a function declared with `@job("feature.name", …)` (its queue, timeout and retry in
one place, registered by name in `strata.jobs`); tenant jobs take the tenant id first and run inside that
tenant's context."""

from __future__ import annotations

import importlib

from strata.jobs import JobSpec, enqueue, enqueue_many, job

__all__ = ["JobSpec", "enqueue", "enqueue_many", "job", "load"]

# The modules whose import registers jobs (and periodic jobs); a feature adds its module here.
FEATURE_MODULES: list[str] = [
    "workers.business_objects",
    "workers.extensions",
    "workers.reports",
    "workers.streams",
    "workers.things",
]


def load() -> None:
    """Import every feature's job module, so each job is registered under its name."""
    for name in FEATURE_MODULES:
        importlib.import_module(name)
