"""Extension jobs: apply a migration in the background, publishing its progress for the page to poll."""

from __future__ import annotations

import json

from strata.core import queues
from strata.db import current_scope
from strata.errors import ValidationError
from strata.extensions import executor
from workers import job

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


@job(queue="default", timeout=3600)
def apply_migration(plugin_id: str, migration_id: str) -> dict:
    """Execute a plugin's migration (idempotent: an applied one is reported, not re-run); return the outcome."""
    tenant_id = current_scope().tenant_id
    key = progress_key(tenant_id, plugin_id)
    queues.connection.delete(outcome_key(tenant_id, migration_id))

    def publish(step: int, total: int, description: str) -> None:
        queues.connection.set(key, json.dumps({"step": step, "total": total, "description": description}),
                              ex=PROGRESS_TTL)

    try:
        outcome = executor.execute(plugin_id, migration_id, progress=publish)
        return {"ran": outcome.ran, "message": outcome.message}
    except ValidationError as exc:  # a failure is recorded on the migration; a refusal (checksum, order) here
        queues.connection.set(outcome_key(tenant_id, migration_id), str(exc), ex=PROGRESS_TTL)
        return {"ran": False, "message": str(exc)}
    finally:
        queues.connection.delete(key)
