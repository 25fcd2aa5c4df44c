"""The reports JSON API: create and start, read a run, cancel and retry; 422 names every broken rule."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from strata.db import db
from strata.reports.models import Collection, Workflow
from strata.tenancy.service import tenant_context

BODY = {"name": "API load", "data_source": "synthetic", "metric": "days", "seconds": 0,
        "fail_dates": "2026-01-12", "lookback": "custom", "start_date": "2026-01-05", "end_date": "2026-01-25",
        "segment_type": "weekly", "parallel_limit": 2, "retry_failed": False,
        "schedule": {"frequency": "weekly", "time": "07:30", "timezone": "Europe/London", "days_of_week": [1, 5]}}


@pytest.fixture
def api(client, login, member):
    tenant, user = member
    login(user)
    return tenant, f"/api/t/{tenant.slug}/reports"


def test_create_run_and_retry(api, client, run_jobs):
    tenant, base = api
    created = client.post(base + "/", json=BODY)
    assert created.status_code == 201, created.get_json()
    run = created.get_json()["run"]
    assert run["status"] == "running" and run["counts"] == {"pending": 3}
    run_jobs("backfills")
    done = client.get(f"{base}/runs/{run['id']}").get_json()
    assert done["status"] == "partial" and done["series"] == ["days"]
    assert [(s["start"], s["status"], s["values"]) for s in done["segments"]] == [
        ("2026-01-05", "completed", {"days": 7.0}), ("2026-01-12", "failed", {"days": None}),
        ("2026-01-19", "completed", {"days": 7.0})]
    retried = client.post(f"{base}/runs/{run['id']}/retry").get_json()
    assert retried["status"] == "running" and retried["counts"]["pending"] == 1
    cancelled = client.post(f"{base}/runs/{run['id']}/cancel").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"].get("cancelled") == 1


def test_bad_input_is_422_with_every_rule_and_nothing_created(api, client):
    tenant, base = api
    bad = {**BODY, "end_date": "2026-01-01", "parallel_limit": 51,
           "schedule": {"frequency": "monthly", "time": "07:30", "timezone": "Nowhere/Land", "day_of_month": 32}}
    response = client.post(base + "/", json=bad)
    assert response.status_code == 422
    rules = {(e["field"], e["rule"]) for e in response.get_json()["errors"]}
    assert rules == {("end_date", "after_start"), ("parallel_limit", "range"), ("timezone", "timezone"),
                     ("day_of_month", "range")}
    assert client.post(base + "/", data="nope", content_type="application/json").status_code == 422
    _nothing_created(tenant)


def _nothing_created(tenant):
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Workflow)) == 0
        assert db.session.scalar(select(func.count()).select_from(Collection)) == 0


@pytest.mark.parametrize("change, field, rule", [
    ({"parallel_limit": 0}, "parallel_limit", "range"),
    ({"parallel_limit": 51}, "parallel_limit", "range"),
    ({"start_date": "2016-01-04", "end_date": "2026-01-25"}, "start_date", "max_range"),
    ({"end_date": "9999-12-31"}, "end_date", "date_range"),
    ({"start_date": "2026-01-05", "end_date": "2026-02-30"}, "end_date", "date"),
    ({"lookback": "weeks", "lookback_count": 522}, "lookback_count", "range"),
    ({"lookback": "months", "lookback_count": 121}, "lookback_count", "range"),
    ({"schedule": {**BODY["schedule"], "timezone": "Europe/Londres"}}, "timezone", "timezone"),
    # Values of the wrong shape are named, not a server error.
    ({"parallel_limit": [2]}, "parallel_limit", "type"),
    ({"lookback": ["custom"]}, "lookback", "type"),
    ({"name": {"en": "Load"}}, "name", "type"),
    ({"seconds": [0]}, "seconds", "type"),
    ({"schedule": {**BODY["schedule"], "time": ["07:30"]}}, "time", "type"),
    ({"schedule": {**BODY["schedule"], "days_of_week": 12}}, "days_of_week", "type"),
    ({"schedule": {**BODY["schedule"], "days_of_week": [[1]]}}, "days_of_week", "type"),
])
def test_each_bad_value_is_422_naming_its_field_and_rule(api, client, change, field, rule):
    tenant, base = api
    response = client.post(base + "/", json={**BODY, **change})
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert [(e["field"], e["rule"]) for e in errors] == [(field, rule)] and errors[0]["message"]
    _nothing_created(tenant)


def test_other_tenants_runs_are_404_and_viewers_cannot_create(api, client, login, make_user, make_tenant):
    tenant, base = api
    run_id = client.post(base + "/", json=BODY).get_json()["run"]["id"]
    viewer = make_user()
    other = make_tenant(members={viewer: "admin"})
    login(viewer, tenant=tenant, role="viewer")
    assert client.get(f"/api/t/{other.slug}/reports/runs/{run_id}").status_code == 404
    assert client.get(f"{base}/runs/{run_id}").status_code == 200
    assert client.post(base + "/", json=BODY).status_code == 403
