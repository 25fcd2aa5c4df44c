"""Fixtures for thing tests: a tenant with an admin, an editor and a viewer, actors, and model shortcuts."""

import pytest

from strata.tenancy.service import tenant_context
from strata.things import schema, service
from strata.things.access import Actor


@pytest.fixture
def admin(make_user):
    return make_user(name="Ada Admin")


@pytest.fixture
def editor(make_user):
    return make_user(name="Ed Editor")


@pytest.fixture
def viewer(make_user):
    return make_user(name="Vi Viewer")


@pytest.fixture
def tenant(make_tenant, admin, editor, viewer):
    return make_tenant(members={admin: "admin", editor: "editor", viewer: "viewer"})


@pytest.fixture
def scoped(tenant):
    """Run the test body inside the tenant's scope."""
    with tenant_context(tenant.id) as scope:
        yield scope


@pytest.fixture
def actors(admin, editor, viewer):
    return {"admin": Actor(admin.id, "admin"), "editor": Actor(editor.id, "editor"),
            "viewer": Actor(viewer.id, "viewer")}


@pytest.fixture
def model(actors):
    """Shortcuts that define classes, attributes and relationships as the admin."""
    boss = actors["admin"]

    class Model:
        def cls(self, name="Device", **values):
            return schema.create_class(boss, {"name": name, **values})

        def attr(self, name, data_type="string", **values):
            return schema.create_attribute(boss, {"name": name, "data_type": data_type, **values})

        def assign(self, cls, attribute, required=False, rules=None):
            return schema.assign(boss, cls.id, attribute.id, is_required=required, rules=rules)

        def rtype(self, name="connects to", inverse="connected from"):
            return schema.create_relationship_type(boss, {"name": name, "inverse_name": inverse})

        def relate(self, source, target, rtype, cardinality="many_to_many", bidirectional=False, **kw):
            return schema.add_class_relationship(boss, source.id, {
                "to_thing_class_id": target.id, "relationship_type_id": rtype.id, "cardinality": cardinality,
                "is_bidirectional": bidirectional, **kw})

        def thing(self, cls, name="Thing", actor=None, **values):
            return service.create_thing(actor or boss, cls.id, name, values)

    return Model()
