"""Extension jobs: apply a migration in the background, publishing its progress for the page to poll."""

from __future__ import annotations

from strata.db import current_scope
from strata.errors import ValidationError
from strata.extensions import executor, progress
from workers import job


@job("extensions.apply_migration", queue="default", timeout=3600)
def apply_migration(plugin_id: str, migration_id: str) -> dict:
    """Execute a plugin's migration (idempotent: an applied one is reported, not re-run); return the outcome."""
    tenant_id = current_scope().tenant_id
    progress.record_refusal(tenant_id, migration_id, None)

    def publish(step: int, total: int, description: str) -> None:
        progress.publish_progress(tenant_id, plugin_id, step, total, description)

    try:
        outcome = executor.execute(plugin_id, migration_id, progress=publish)
        return {"ran": outcome.ran, "message": outcome.message}
    except ValidationError as exc:  # a failure is recorded on the migration; a refusal (checksum, order) here
        progress.record_refusal(tenant_id, migration_id, str(exc))
        return {"ran": False, "message": str(exc)}
    finally:
        progress.clear_progress(tenant_id, plugin_id)
