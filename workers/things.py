"""Jobs for thing classes: refresh the per-class counts after changes."""

from __future__ import annotations

from strata.db import current_scope
from strata.things import summary
from workers import job


@job("things.refresh_summary", queue="default", timeout=600)
def refresh_summary() -> float:
    """Refresh the tenant's `thing_class_summary` concurrently; idempotent; return the seconds it took."""
    summary.clear_pending(current_scope().tenant_id)
    return summary.refresh()
