"""Validator and field configs are cached per process and reloaded everywhere after a change."""

import pytest

from strata.business_objects import cache, definitions, service
from strata.core import queues
from strata.db import db
from strata.errors import ValidationError
from strata.tenancy.service import tenant_context


def test_change_in_one_process_is_enforced_by_another(app, make_app, tenant, admin):
    other = make_app()  # a second app object: its own engine, session and config cache
    with tenant_context(tenant.id):
        field = definitions.define_field("company", "employees", "Employees", "integer", actor_id=admin.id)
        rule = definitions.define_validator("company", "cap", "range", field_name="employees",
                                            config={"kind": "number", "max": 10}, actor_id=admin.id)
    with other.app_context(), tenant_context(tenant.id):
        service.create("company", {"name": "Warm"}, {"employees": 8}, actor_id=admin.id)  # caches max 10
        assert cache.CACHE.held(other, tenant.id).validators
    with tenant_context(tenant.id):
        definitions.update_validator(rule.id, config={"kind": "number", "max": 5}, actor_id=admin.id)
    with other.app_context(), tenant_context(tenant.id):
        with pytest.raises(ValidationError, match="at most 5"):
            service.create("company", {"name": "Big"}, {"employees": 8}, actor_id=admin.id)
    with tenant_context(tenant.id):
        definitions.deactivate_field(field.id, actor_id=admin.id)
    with other.app_context(), tenant_context(tenant.id):
        with pytest.raises(ValidationError, match="not a custom field"):
            service.create("company", {"name": "Gone"}, {"employees": 1}, actor_id=admin.id)
        db.session.remove()


def test_uncommitted_change_is_seen_by_its_own_transaction_only(app, tenant, admin):
    with tenant_context(tenant.id):
        cache.current()
        definitions.define_validator("product", "sku_required", "required", field_name="sku", actor_id=admin.id)
        with pytest.raises(ValidationError):
            service.create("product", {"name": "A"}, actor_id=admin.id)
        db.session.rollback()  # the definition never happened
        assert service.create("product", {"name": "A"}, actor_id=admin.id)


class CountingRedis:
    """Wraps the app's Redis client and counts commands sent to it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def get(self, key):
        self.calls.append(("GET", key))
        return self.inner.get(key)

    def pipeline(self):
        self.calls.append(("PIPELINE", None))
        return self.inner.pipeline()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_using_the_cache_costs_one_redis_get(app, tenant, admin):
    with tenant_context(tenant.id):
        definitions.define_field("company", "employees", "Employees", "integer", actor_id=admin.id)
        service.create("company", {"name": "Warm"}, actor_id=admin.id)
    counting = CountingRedis(queues.connection)
    app.extensions["strata_redis"] = counting
    try:
        with tenant_context(tenant.id):
            service.create("company", {"name": "A"}, {"employees": 1}, actor_id=admin.id)
        assert counting.calls == [("GET", cache.version_key(tenant.id))]
    finally:
        app.extensions["strata_redis"] = counting.inner


def test_version_counter_is_bumped_after_commit_only(app, tenant, admin):
    key = cache.version_key(tenant.id)
    with tenant_context(tenant.id):
        cache.current()
        before = queues.connection.get(key)
        definitions.define_field("product", "colour", "Colour", "string", actor_id=admin.id)
        assert queues.connection.get(key) == before
    assert int(queues.connection.get(key)) == int(before) + 1
    with tenant_context(tenant.id):
        with pytest.raises(ValidationError):
            definitions.define_field("product", "colour", "Colour", "string", actor_id=admin.id)
    assert int(queues.connection.get(key)) == int(before) + 1
