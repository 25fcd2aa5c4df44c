"""Per-process cache of each tenant's custom field definitions and validators (see `strata.tenant_cache`):
using it costs one Redis GET; a definition changed by any process is reloaded on the next use."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import select

from strata.business_objects.fields import FieldSpec
from strata.business_objects.models import BusinessObjectValidator, CustomFieldDefinition
from strata.business_objects.validators import ValidatorSpec, parse_config
from strata.db import db
from strata.tenant_cache import TenantCache

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TenantConfig:
    """A tenant's active custom field definitions and validators."""

    fields: tuple[FieldSpec, ...]
    validators: tuple[ValidatorSpec, ...]

    def fields_for(self, entity_type: str, company_id: int | None) -> list[FieldSpec]:
        """Return the custom fields of `entity_type` that apply under `company_id`, in display order."""
        found = [f for f in self.fields if f.extra["entity_type"] == entity_type
                 and (f.company_id is None or f.company_id == company_id)]
        return sorted(found, key=lambda f: (f.position, f.label.lower(), f.name))

    def validators_for(self, entity_type: str, company_id: int | None) -> list[ValidatorSpec]:
        """Return the validators of `entity_type` that apply under `company_id`."""
        return [v for v in self.validators if v.entity_type == entity_type
                and (v.company_id is None or v.company_id == company_id)]


def load() -> TenantConfig:
    """Read the current tenant's active definitions and validators from the database."""
    definitions = db.session.scalars(select(CustomFieldDefinition).where(CustomFieldDefinition.is_active))
    rows = db.session.scalars(select(BusinessObjectValidator).where(BusinessObjectValidator.is_active))
    validators = []
    for row in rows:
        spec = validator_spec(row)
        if spec is not None:
            validators.append(spec)
    return TenantConfig(tuple(field_spec(d) for d in definitions), tuple(validators))


def field_spec(definition: CustomFieldDefinition) -> FieldSpec:
    """Return the FieldSpec of a custom field definition row."""
    return FieldSpec(
        name=definition.name, label=definition.label, field_type=definition.field_type,
        options=tuple(definition.options or ()), default=definition.default_value, help_text=definition.help_text,
        position=definition.position, company_id=definition.company_id, definition_id=definition.id,
        extra={"entity_type": definition.entity_type},
    )


def validator_spec(row: BusinessObjectValidator) -> ValidatorSpec | None:
    """Return the ValidatorSpec of a validator row, or None (logged) if its stored config is unusable."""
    try:
        config = parse_config(row.validator_type, json.loads(row.validator_config or "{}"))
    except ValueError:
        log.error("validator %s (%s) has an unusable config; skipped", row.id, row.validator_name)
        return None
    return ValidatorSpec(id=row.id, entity_type=row.entity_type, name=row.validator_name,
                         validator_type=row.validator_type, field_name=row.field_name, config=config,
                         company_id=row.company_id)


CACHE = TenantCache("business_objects:config_version", load, "business object config")
current = CACHE.current  # the current tenant's TenantConfig
changed = CACHE.changed  # call after changing a definition or validator: every process reloads after commit
version_key = CACHE.version_key
