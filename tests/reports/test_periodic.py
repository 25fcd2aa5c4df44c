"""The periodic jobs are declared for `flask cron` and run in every tenant through a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from strata.core import queues
from strata.db import db
from strata.reports import service
from strata.reports.models import Collection
from strata.tenancy.service import tenant_context
from tests.reports.conftest import report_config
from workers import periodic
from workers.reports import sweep_segments, tick_schedules


def test_tick_and_sweep_are_declared_periodic_jobs():
    names = {f"{job.func.__module__}.{job.func.__qualname__}": job.every for job in periodic.declared()}
    assert names["workers.reports.tick_schedules"] == 30
    assert names["workers.reports.sweep_segments"] == 20


def test_periodic_tick_starts_due_runs_in_every_tenant_and_workers_finish_them(app, make_tenant, run_jobs):
    tenants = [make_tenant(), make_tenant()]
    for tenant in tenants:
        with tenant_context(tenant.id):
            service.create_report(report_config(schedule={"frequency": "daily", "time": "06:00",
                                                          "timezone": "UTC"}), None)
            db.session.execute(db.text("UPDATE workflow_schedules SET next_run_at = :at"),
                               {"at": datetime.now(UTC) - timedelta(minutes=1)})
    # As `flask cron` does: the plain functions on their declared queue.
    queues.queue("default").enqueue(tick_schedules)
    queues.queue("default").enqueue(sweep_segments)
    run_jobs("default")
    run_jobs("backfills")
    for tenant in tenants:
        with tenant_context(tenant.id):
            statuses = db.session.scalars(select(Collection.status).where(Collection.trigger == "schedule")).all()
            assert statuses == ["completed"]


def test_dashboard_card_list_and_report_page(member, client, login, launch):
    tenant, user = member
    workflow_id, collection_id = launch(tenant, user, name="Quarterly load")
    login(user)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Reports" in body and "1 backfill(s) running now." in body
    listing = client.get(f"/t/{tenant.slug}/reports/").get_data(as_text=True)
    assert "Quarterly load" in listing and 'class="status running"' in listing
    page = client.get(f"/t/{tenant.slug}/reports/{workflow_id}").get_data(as_text=True)
    assert "not scheduled" in page and str(collection_id) in page and "Run now" in page
