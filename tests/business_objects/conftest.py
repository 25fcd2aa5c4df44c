"""Fixtures for business object tests: a tenant with an admin, and shortcuts into the domain."""

import pytest

from strata.business_objects import definitions, service
from strata.tenancy.service import tenant_context


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
def bo(admin):
    """Shortcuts that pass the admin as actor."""

    # Read the id now: inside another tenant's scope the user row is hidden from the tenant role.
    admin_id = admin.id

    class Shortcuts:
        def company(self, name="Acme Ltd", custom=None, **values):
            return service.create("company", {"name": name, **values}, custom, actor_id=admin_id)

        def partner(self, company_id, name="Pat Partner", custom=None, **values):
            return service.create("partner", {"company_id": company_id, "name": name, **values}, custom,
                                  actor_id=admin_id)

        def product(self, name="Widget", custom=None, **values):
            return service.create("product", {"name": name, **values}, custom, actor_id=admin_id)

        def field(self, entity_type, name, field_type, label=None, **kw):
            return definitions.define_field(entity_type, name, label or name.replace("_", " ").capitalize(),
                                            field_type, actor_id=admin_id, **kw)

        def validator(self, entity_type, name, validator_type, **kw):
            return definitions.define_validator(entity_type, name, validator_type, actor_id=admin_id, **kw)

    return Shortcuts()
