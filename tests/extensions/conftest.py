"""Fixtures for extension tests: a tenant with an admin, example manifests, and shortcuts into the domain."""

import copy
from pathlib import Path

import pytest
import yaml

from strata.db import db
from strata.extensions import executor, registry
from strata.tenancy.service import tenant_context

# The enum example of examples/extensions: deals with a stage enum, every field type and rule, a core relationship.
CRM = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples/extensions/crm_deals.yaml").read_text())


def manifest(**changes):
    """Return a deep copy of the CRM manifest with top-level keys replaced."""
    data = copy.deepcopy(CRM)
    data.update(changes)
    return data


@pytest.fixture
def admin(make_user):
    return make_user(name="Ada Admin")


@pytest.fixture
def tenant(make_tenant, admin):
    return make_tenant(members={admin: "admin"})


@pytest.fixture
def scoped(tenant):
    """Run the test body inside the tenant's scope."""
    with tenant_context(tenant.id) as scope:
        yield scope


@pytest.fixture
def install():
    """Register (or upgrade) a manifest and execute its migration; return the migration record."""

    def run(data, allow_destructive=False):
        existing = [s.plugin_id for s in registry.list_schemas()]
        if data["pluginId"] in existing:
            _, migration = registry.upgrade(data["pluginId"], data, allow_destructive=allow_destructive)
        else:
            _, migration = registry.register(data, allow_destructive=allow_destructive)
        db.session.commit()
        return executor.execute(data["pluginId"]).migration

    return run
