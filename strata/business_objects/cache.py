"""Per-process cache of each tenant's custom field definitions and validators.

Every app object holds its own cache (`app.extensions`), keyed by tenant id and tagged
with the tenant's config version, a counter in Redis. Using the cache costs one Redis
GET; a different version means another process changed a definition, so the config is
reloaded from the database. A change bumps the counter with INCR *after* its transaction
commits (a session hook), so no process can cache the old rows under the new version.
Counters start at a random value, so a Redis that lost its keys never hands back a
version an old cache entry still carries. Without Redis the config is read fresh each time.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from strata.business_objects.fields import FieldSpec
from strata.business_objects.models import BusinessObjectValidator, CustomFieldDefinition
from strata.business_objects.validators import ValidatorSpec, parse_config
from strata.core import queues
from strata.db import current_scope, db

log = logging.getLogger(__name__)

_PENDING = "strata_bo_config_changed"
_STORE = "strata_bo_config"


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


def version_key(tenant_id: int) -> str:
    """Return the Redis key of a tenant's config version counter."""
    return f"strata:business_objects:config_version:{tenant_id}"


def _tenant_id() -> int:
    scope = current_scope()
    if scope is None:
        raise RuntimeError("business objects need a tenant scope (tenant_context or a tenant request)")
    return scope.tenant_id


def _seed() -> int:
    return secrets.randbits(48)


def _read_version(tenant_id: int) -> bytes:
    connection = queues.connection
    version = connection.get(version_key(tenant_id))
    if version is None:
        pipe = connection.pipeline()
        pipe.set(version_key(tenant_id), _seed(), nx=True)
        pipe.get(version_key(tenant_id))
        version = pipe.execute()[1]
    return version


def current() -> TenantConfig:
    """Return the current tenant's config, reloading it if any process changed it (one Redis GET)."""
    tenant_id = _tenant_id()
    if tenant_id in db.session().info.get(_PENDING, ()):
        return load()  # this transaction changed the config and has not committed yet: read its own rows
    try:
        version = _read_version(tenant_id)
    except redis.RedisError:
        log.warning("redis unavailable; reading business object config without the cache", exc_info=True)
        return load()
    store: dict[int, tuple[bytes, TenantConfig]] = current_app.extensions.setdefault(_STORE, {})
    hit = store.get(tenant_id)
    if hit is not None and hit[0] == version:
        return hit[1]
    config = load()
    store[tenant_id] = (version, config)
    return config


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


def changed() -> None:
    """Mark the current tenant's config as changed; every process reloads it once this transaction commits."""
    db.session().info.setdefault(_PENDING, set()).add(_tenant_id())


@event.listens_for(Session, "after_commit")
def _bump_versions(session: Session) -> None:
    tenants = session.info.pop(_PENDING, None)
    if not tenants:
        return
    try:
        pipe = queues.connection.pipeline()
        for tenant_id in tenants:
            pipe.set(version_key(tenant_id), _seed(), nx=True)
            pipe.incr(version_key(tenant_id))
        pipe.execute()
    except redis.RedisError:
        log.exception("could not publish business object config change for tenants %s", sorted(tenants))


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session: Session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
