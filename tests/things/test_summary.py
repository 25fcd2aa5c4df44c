"""The class counts: one refresh job per burst of changes, run by a real worker, refreshing the
materialized view concurrently; running it again changes nothing."""

from sqlalchemy import text

from strata.core import queues
from strata.db import db
from strata.tenancy.service import tenant_context
from strata.things import service


def _counts(tenant):
    with tenant_context(tenant.id):
        return {row.name: (row.thing_count, row.attribute_count) for row in
                db.session.execute(text("SELECT name, thing_count, attribute_count FROM thing_class_summary"))}


def test_a_burst_of_changes_queues_one_refresh(app, tenant, model, actors, run_jobs):
    with tenant_context(tenant.id):
        cls = model.cls("Server")
        model.assign(cls, model.attr("ram_gb", "integer"))
        things = [model.thing(cls, f"s{i}").id for i in range(3)]
    with tenant_context(tenant.id):
        service.delete_thing(actors["editor"], things[0])
    assert queues.queue("default").count == 1
    assert _counts(tenant) == {}  # not refreshed yet
    assert run_jobs("default")
    assert _counts(tenant) == {"Server": (2, 1)}
    with tenant_context(tenant.id):
        service.restore_thing(actors["editor"], things[0])
    assert queues.queue("default").count == 1  # the pending mark was cleared by the job
    run_jobs("default")
    assert _counts(tenant) == {"Server": (3, 1)}


def test_a_rolled_back_change_queues_nothing(app, tenant, model):
    try:
        with tenant_context(tenant.id):
            model.cls("Server")
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert queues.queue("default").count == 0
