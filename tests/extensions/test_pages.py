"""Extension pages: manifest form with inline errors, preview, apply in a worker, history, rollback, data browser."""

import json
import re

import pytest
from sqlalchemy import text

from strata.business_objects import service
from strata.db import db
from strata.tenancy.service import tenant_context
from tests.extensions.conftest import CRM

HX = {"HX-Request": "true"}


@pytest.fixture
def pages(client, login, admin, tenant):
    login(admin, tenant=tenant)
    return f"/t/{tenant.slug}/extensions"


def _preview(client, pages, data=CRM, **form):
    return client.post(f"{pages}/preview", data={"manifest": json.dumps(data), **form}, headers=HX)


def _apply(client, pages, run_jobs):
    body = _preview(client, pages).get_data(as_text=True)
    apply_url = re.search(r'hx-post="([^"]+/apply)"', body)[1]
    progress = client.post(apply_url, headers=HX).get_data(as_text=True)
    assert "Applying" in progress and "load delay:1s" in progress
    assert run_jobs("default")
    return re.search(r'hx-get="([^"]+/status)"', progress)[1]


def test_index_shows_the_form_and_an_empty_list(client, pages):
    body = client.get(f"{pages}/").get_data(as_text=True)
    assert "No extensions yet" in body and 'name="manifest"' in body


def test_check_shows_errors_inline_with_paths(client, pages):
    bad = {**CRM, "version": "x", "tables": [{"name": "Deal", "fields": []}]}
    response = client.post(f"{pages}/validate", data={"manifest": json.dumps(bad)}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<code>version</code>" in body and 'aria-invalid="true"' in body
    ok = client.post(f"{pages}/validate", data={"manifest": json.dumps(CRM)}, headers=HX)
    assert ok.status_code == 200 and "acme-crm 1.0.0 is valid" in ok.get_data(as_text=True)


def test_upload_a_yaml_file(client, pages):
    from io import BytesIO

    text = b"pluginId: notes\nversion: 1.0.0\nmetadata: {namespace: notes}\ntables: [{name: note, fields: []}]\n"
    response = client.post(f"{pages}/validate", data={"file": (BytesIO(text), "notes.yaml")},
                           content_type="multipart/form-data", headers=HX)
    assert response.status_code == 200 and "notes 1.0.0 is valid" in response.get_data(as_text=True)


def test_preview_apply_history_and_rollback(client, pages, run_jobs):
    preview = _preview(client, pages).get_data(as_text=True)
    assert 'CREATE TABLE &#34;plugin_crm_deal&#34;' in preview and "Create table plugin_crm_deal" in preview
    assert "ACCESS EXCLUSIVE" in preview  # the foreign key step locks the table it alters
    status_url = _apply(client, pages, run_jobs)
    done = client.get(status_url, headers=HX).get_data(as_text=True)
    assert "Applied" in done and "hx-trigger" not in done
    detail = client.get(f"{pages}/acme-crm/").get_data(as_text=True)
    assert "executed" in detail and "verified" in detail and "/data/deal/" in detail
    rollback = re.search(r'hx-get="([^"]+/rollback)"', detail)[1]
    confirm = client.get(rollback, headers=HX).get_data(as_text=True)
    assert "Nothing holds data that this rollback would drop" in confirm and f'hx-post="{rollback}"' in confirm
    done = client.post(rollback, headers=HX)
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"{pages}/acme-crm/"
    reloaded = client.get(f"{pages}/acme-crm/").get_data(as_text=True)
    assert "rolled_back" in reloaded and "installed nothing" in reloaded
    assert client.get(f"{pages}/acme-crm/data/deal/").status_code == 404


def test_destructive_preview_is_refused_inline_without_the_flag(client, pages, run_jobs):
    _apply(client, pages, run_jobs)
    smaller = {**CRM, "version": "2.0.0", "enums": [{"name": "stage", "values": ["lead", "won"]}]}
    refused = _preview(client, pages, smaller)
    assert refused.status_code == 422 and "Set allow_destructive" in refused.get_data(as_text=True)
    allowed = _preview(client, pages, smaller, allow_destructive="1")
    assert allowed.status_code == 200 and "Destructive (allowed)" in allowed.get_data(as_text=True)


def test_data_browser_create_edit_filter(client, pages, tenant, run_jobs):
    _apply(client, pages, run_jobs)
    data = f"{pages}/acme-crm/data/deal"
    form = client.get(f"{data}/new").get_data(as_text=True)
    assert 'id="f-title"' in form and "<option>won</option>" in form and 'type="datetime-local"' in form
    assert "<option selected>lead</option>" in form and 'value="10"' in form  # defaults are filled in
    bad = client.post(f"{data}/new", data={"title": "x", "probability": "500", "details": "{nope"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "details must be valid JSON" in body
    bad = client.post(f"{data}/new", data={"title": "x", "probability": "500"})
    body = bad.get_data(as_text=True)
    assert "title must be at least 2 characters" in body and "probability must be at most 100" in body
    with tenant_context(tenant.id):
        company = service.create("company", {"name": "Initech"}, actor_id=None).id
    assert f'<option value="{company}">Initech</option>' in client.get(f"{data}/new").get_data(as_text=True)
    made = client.post(f"{data}/new", data={"title": "Big deal", "probability": "40", "stage": "won",
                                            "company_id": str(company),
                                            "closes_on": "2026-12-01T10:30", "details": '{"k": 1}'})
    assert made.status_code == 302
    edit_url = made.headers["Location"]
    assert "Big deal" in client.get(edit_url).get_data(as_text=True)
    saved = client.post(edit_url, data={"title": "Bigger deal", "probability": "45", "stage": "won"})
    assert saved.status_code == 302
    listing = client.get(f"{data}/?stage=eq.won").get_data(as_text=True)
    assert "Bigger deal" in listing and "1 row" in listing
    assert "No rows match" in client.get(f"{data}/?probability=gt.50").get_data(as_text=True)
    redirect = client.get(f"{data}/filter?f_column=probability&f_op=gte&f_value=40")
    assert redirect.status_code == 302 and "probability=gte.40" in redirect.headers["Location"]
    assert client.get(f"{data}/?probability=gt.lots").status_code == 422
    gone = client.post(f"{edit_url}/delete")
    assert gone.status_code == 302 and "No rows yet" in client.get(f"{data}/").get_data(as_text=True)


def test_uninstall_keeps_an_export_to_download(client, pages, run_jobs):
    _apply(client, pages, run_jobs)
    client.post(f"{pages}/acme-crm/data/deal/new", data={"title": "Keep me"})
    wrong = client.post(f"{pages}/acme-crm/uninstall", data={"confirm": "nope"}, follow_redirects=True)
    assert "Type the plugin id" in wrong.get_data(as_text=True)
    done = client.post(f"{pages}/acme-crm/uninstall", data={"confirm": "acme-crm"})
    token = re.search(r"export=([\w-]+)", done.headers["Location"])[1]
    export = client.get(f"{pages}/exports/{token}.json")
    assert export.status_code == 200 and export.get_json()["tables"]["deal"][0]["title"] == "Keep me"
    assert "No extensions yet" in client.get(f"{pages}/").get_data(as_text=True)


def test_viewers_see_but_cannot_change(client, login, make_user, tenant, pages):
    client.post("/logout")
    login(make_user(), tenant=tenant, role="viewer")
    assert client.get(f"{pages}/").status_code == 200
    assert _preview(client, pages).status_code == 403


def test_a_tampered_migration_is_refused_by_the_worker_and_polling_stops(client, pages, tenant, run_jobs):
    body = _preview(client, pages).get_data(as_text=True)
    with tenant_context(tenant.id):
        db.session.execute(text("UPDATE extension_migrations SET migration_sql = 'SELECT 1;'"))
    apply_url = re.search(r'hx-post="([^"]+/apply)"', body)[1]
    progress = client.post(apply_url, headers=HX).get_data(as_text=True)
    assert run_jobs("default")
    status = client.get(re.search(r'hx-get="([^"]+/status)"', progress)[1], headers=HX).get_data(as_text=True)
    assert "Not applied" in status and "changed after it was generated" in status and "hx-trigger" not in status
    detail = client.get(f"{pages}/acme-crm/").get_data(as_text=True)
    assert "changed since generated" in detail
