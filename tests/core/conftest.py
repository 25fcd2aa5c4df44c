"""Fixtures for platform-core tests: the business-object tests' tenant with an admin and its scope, the admin
as a things actor, and a small extension manifest."""

import pytest

from strata.things.access import Actor
from tests.business_objects.conftest import admin, scoped, tenant  # noqa: F401  (the same tenant fixtures)


@pytest.fixture
def boss(admin):  # noqa: F811
    """The admin as a things actor."""
    return Actor(admin.id, "admin")


def extension_manifest(fields, plugin_id="core-values"):
    """Return a one-table manifest (namespace `core`, table `item`, enum `colour`) with `fields`."""
    return {"pluginId": plugin_id, "version": "1.0.0",
            "metadata": {"namespace": "core", "description": "Values", "author": "Tests"},
            "enums": [{"name": "colour", "values": ["red", "green"]}],
            "tables": [{"name": "item", "fields": fields}]}
