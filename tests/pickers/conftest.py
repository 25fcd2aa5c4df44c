import pytest


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()
