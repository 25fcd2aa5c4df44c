"""Jobs for business objects: CSV imports too long for one request."""

from __future__ import annotations

from strata.business_objects import imports
from workers import job


@job("business_objects.import_csv", queue="default", timeout=1800)
def import_csv(tenant_id: int, entity_type: str, token: str, actor_id: int | None, import_valid_rows: bool) -> dict:
    """Import a kept CSV file of the tenant (see strata.business_objects.imports); idempotent once done."""
    return imports.run(tenant_id, entity_type, token, actor_id, import_valid_rows)
