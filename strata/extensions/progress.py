"""A running migration's progress and a refused run's message, kept in Redis for the page to poll."""

from __future__ import annotations

import json

from strata.core import queues

PROGRESS_TTL = 3600


def progress_key(tenant_id: int, plugin_id: str) -> str:
    """Return the Redis key holding the running migration's progress of a plugin."""
    return f"strata:extensions:progress:{tenant_id}:{plugin_id}"


def outcome_key(tenant_id: int, migration_id: str) -> str:
    """Return the Redis key of a refused run's message (a refusal leaves the record as it was)."""
    return f"strata:extensions:refused:{tenant_id}:{migration_id}"


def read_refusal(tenant_id: int, migration_id: str) -> str | None:
    """Return why the last queued run of a migration was refused before it started, or None."""
    raw = queues.connection.get(outcome_key(tenant_id, migration_id))
    return raw.decode() if raw else None


def read_progress(tenant_id: int, plugin_id: str) -> dict | None:
    """Return {step, total, description} of the running migration, or None."""
    raw = queues.connection.get(progress_key(tenant_id, plugin_id))
    return json.loads(raw) if raw else None


def publish_progress(tenant_id: int, plugin_id: str, step: int, total: int, description: str) -> None:
    """Record the running migration's current step for the page to poll."""
    queues.connection.set(progress_key(tenant_id, plugin_id),
                          json.dumps({"step": step, "total": total, "description": description}), ex=PROGRESS_TTL)


def record_refusal(tenant_id: int, migration_id: str, message: str | None) -> None:
    """Remember why a queued run was refused (None: forget an earlier refusal)."""
    if message is None:
        queues.connection.delete(outcome_key(tenant_id, migration_id))
    else:
        queues.connection.set(outcome_key(tenant_id, migration_id), message, ex=PROGRESS_TTL)


def clear_progress(tenant_id: int, plugin_id: str) -> None:
    """Forget the progress of a migration that has stopped running."""
    queues.connection.delete(progress_key(tenant_id, plugin_id))
