"""Periodic jobs find due work through public.housekeeping_due, kept current by each tenant's writes."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from strata.db import db
from strata.housekeeping import due_tenants
from strata.tenancy.service import tenant_context
from workers.reports import sweep_segments, tick_schedules


def _due_rows() -> set[tuple[str, str]]:
    return set(db.session.execute(text("SELECT schema_name, kind FROM public.housekeeping_due")).all())


def _schedule(tenant, next_run_at: datetime, active: bool = True) -> None:
    with tenant_context(tenant.id):
        workflow = db.session.execute(text(
            "INSERT INTO workflows (name, data_source) VALUES ('w', 'companies') RETURNING id")).scalar()
        db.session.execute(text("INSERT INTO workflow_schedules (workflow_id, is_active, next_run_at, schedule_config) "
                                "VALUES (:w, :a, :n, '{}')"), {"w": workflow, "a": active, "n": next_run_at})


def _stream(tenant, enabled: bool) -> None:
    with tenant_context(tenant.id):
        db.session.execute(text(
            "INSERT INTO stream_metadata (stream_type, base_url, stream_key, enabled) "
            "VALUES ('companies', 'http://127.0.0.1:1/', 'k', :e) "
            "ON CONFLICT (stream_type) DO UPDATE SET enabled = EXCLUDED.enabled"), {"e": enabled})


def test_a_new_tenant_has_nothing_due(app, make_tenant):
    make_tenant()
    assert _due_rows() == set()


def test_enabling_and_disabling_a_stream_keeps_the_index_current(app, make_tenant):
    tenant, other = make_tenant(), make_tenant()
    _stream(tenant, enabled=True)
    assert _due_rows() == {(tenant.schema_name, "streams")}
    assert [t.slug for t in due_tenants("streams")] == [tenant.slug]
    _stream(tenant, enabled=False)
    assert _due_rows() == set()
    assert due_tenants("streams") == []
    assert other.schema_name not in {schema for schema, _ in _due_rows()}


def test_schedules_are_due_from_their_earliest_active_next_run(app, make_tenant):
    now = datetime.now(UTC)
    due, later, paused = make_tenant(), make_tenant(), make_tenant()
    _schedule(due, now - timedelta(minutes=1))
    _schedule(due, now + timedelta(days=1))
    _schedule(later, now + timedelta(hours=1))
    _schedule(paused, now - timedelta(hours=1), active=False)
    at = db.session.execute(text("SELECT due_at FROM public.housekeeping_due WHERE schema_name = :s"),
                            {"s": due.schema_name}).scalar()
    assert abs((at - (now - timedelta(minutes=1))).total_seconds()) < 1
    assert [t.slug for t in due_tenants("schedule")] == [due.slug]
    assert sorted(t.slug for t in due_tenants("schedule", now + timedelta(hours=2))) == sorted([due.slug, later.slug])


def test_periodic_jobs_enter_only_tenants_with_due_work(app, make_tenant):
    idle = [make_tenant() for _ in range(3)]
    busy = make_tenant()
    _schedule(busy, datetime.now(UTC) - timedelta(seconds=5))
    assert set(tick_schedules()) == {busy.slug}
    assert sweep_segments() == {}
    assert all(t.slug not in tick_schedules() for t in idle)


def test_a_tenant_role_sees_and_writes_only_its_own_rows(app, make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    _stream(theirs, enabled=True)
    with tenant_context(mine.id):
        assert db.session.execute(text("SELECT count(*) FROM public.housekeeping_due")).scalar() == 0
        with pytest.raises(Exception, match="row-level security"):
            with db.session.begin_nested():
                db.session.execute(text("INSERT INTO public.housekeeping_due (schema_name, kind, due_at) "
                                        "VALUES (:s, 'schedule', now())"), {"s": theirs.schema_name})
        deleted = db.session.execute(text("DELETE FROM public.housekeeping_due")).rowcount
        assert deleted == 0
    assert _due_rows() == {(theirs.schema_name, "streams")}
