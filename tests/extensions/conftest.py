"""Fixtures for extension tests: a tenant with an admin, example manifests, and shortcuts into the domain."""

import copy

import pytest

from strata.db import db
from strata.extensions import executor, registry
from strata.tenancy.service import tenant_context

CRM = {
    "pluginId": "acme-crm",
    "version": "1.0.0",
    "metadata": {"namespace": "crm", "description": "Deals and their stages", "author": "Acme"},
    "enums": [{"name": "stage", "values": ["lead", "won", "lost"],
               "localization": {"de": {"lead": "Interessent", "won": "Gewonnen"}}}],
    "tables": [{
        "name": "deal",
        "fields": [
            {"name": "title", "type": "String", "required": True, "validation": {"minLength": 2, "maxLength": 80}},
            {"name": "amount", "type": "Decimal", "validation": {"min": 0}},
            {"name": "probability", "type": "Int", "default": 10, "validation": {"min": 0, "max": 100}},
            {"name": "stage", "type": "stage", "required": True, "default": "lead"},
            {"name": "closed", "type": "Boolean", "default": False},
            {"name": "closes_on", "type": "DateTime"},
            {"name": "details", "type": "Json"},
            {"name": "code", "type": "String", "validation": {"pattern": "^[A-Z]{3}-\\d+$"}},
        ],
        "indexes": [{"fields": ["stage", "probability"]}],
        "uniqueConstraints": [{"fields": ["code"]}],
    }],
    "relationships": [{"source": "deal", "sourceField": "company_id", "target": "companies", "targetField": "id",
                       "type": "OneToMany", "onDelete": "Cascade"}],
}


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
