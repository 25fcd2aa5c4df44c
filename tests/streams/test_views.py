"""Stream pages: configure with inline errors, the live status, controls, events log, tenant isolation."""

import pytest
from sqlalchemy import select

from strata.business_objects.models import Company
from strata.core import queues
from strata.db import db
from strata.streams.consumer import lock_name
from strata.streams.host import WANTED
from strata.streams.models import StreamEvent, StreamMetadata
from strata.tenancy.service import tenant_context

HX = {"HX-Request": "true"}
GOOD = {"stream_type": "company-profile", "base_url": "https://stream.example.test", "stream_key": "s3cret-key-42",
        "track_all": "on", "stall_after_seconds": "300"}


@pytest.fixture
def signed_in(client, login, tenant, admin):
    login(admin, tenant=tenant)
    return client


def _stream(tenant):
    with tenant_context(tenant.id):
        stream = db.session.scalar(select(StreamMetadata))
        db.session.expunge(stream)
        return stream


def test_create_stream_then_dashboard_never_shows_key(signed_in, tenant):
    response = signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    assert response.status_code == 302
    stream = _stream(tenant)
    assert stream.stream_key == "s3cret-key-42" and not stream.enabled and stream.track_all
    page = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}").get_data(as_text=True)
    assert "Company profiles stream" in page and "stopped" in page and "Start stream" in page
    assert "s3cret-key-42" not in page
    partial = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}/status", headers=HX).get_data(as_text=True)
    assert 'id="stream-status"' in partial and "s3cret" not in partial
    assert "s3cret" not in signed_in.get(f"/t/{tenant.slug}/streams/").get_data(as_text=True)
    # Forms sent back with errors do not echo a key either.
    rejected = signed_in.post(f"/t/{tenant.slug}/streams/", data={**GOOD, "stream_type": "filing-history",
                                                                  "base_url": "nope", "stream_key": "other-key-77"})
    assert rejected.status_code == 422 and "other-key-77" not in rejected.get_data(as_text=True)
    for headers in ({}, HX):
        bad = signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/settings", headers=headers,
                             data={"base_url": "nope", "stream_key": "new-key-99"})
        assert bad.status_code == 422
        assert "new-key-99" not in bad.get_data(as_text=True) and "s3cret" not in bad.get_data(as_text=True)


@pytest.mark.parametrize("field, value, rule_text", [
    ("stream_type", "bogus", "Stream must be one of"),
    ("base_url", "ftp://x", "Base URL must be an http(s) address"),
    ("stream_key", "", "Stream key is required."),
    ("stall_after_seconds", "5", "Stall alarm must be a whole number"),
    ("stall_after_seconds", "\u00b2", "Stall alarm must be a whole number"),
    ("stall_after_seconds", "9" * 5000, "Stall alarm must be a whole number"),
    ("base_url", "http://stream.example.test:99999", "Base URL has an invalid port"),
    ("base_url", "http://stream.example.test:abc", "Base URL has an invalid port"),
])
def test_bad_input_is_422_with_the_form_and_nothing_written(signed_in, tenant, field, value, rule_text):
    response = signed_in.post(f"/t/{tenant.slug}/streams/", data={**GOOD, field: value}, headers=HX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="stream-form"' in body and rule_text in body
    with tenant_context(tenant.id):
        assert db.session.scalar(select(StreamMetadata)) is None


@pytest.mark.parametrize("field, value", [("base_url", "http://stream.example.test\x00x"),
                                          ("stream_key", "s3cret\x00key")])
def test_nul_in_a_field_is_422_naming_it_and_nothing_written(signed_in, tenant, field, value):
    response = signed_in.post(f"/t/{tenant.slug}/streams/", data={**GOOD, field: value}, headers=HX)
    assert response.status_code == 422
    assert f"{field} must not contain NUL characters" in response.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert db.session.scalar(select(StreamMetadata)) is None


def test_duplicate_stream_type_is_refused(signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    response = signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD, headers=HX)
    assert response.status_code == 422 and "already configured" in response.get_data(as_text=True)


def test_settings_keep_key_when_left_empty(signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    response = signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/settings",
                              data={"base_url": "https://other.example.test/", "stream_key": "",
                                    "stall_after_seconds": "120"})
    assert response.status_code == 302
    stream = _stream(tenant)
    assert stream.base_url == "https://other.example.test" and stream.stream_key == "s3cret-key-42"
    assert not stream.track_all and stream.stall_after_seconds == 120
    bad = signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/settings", data={"base_url": "nope"}, headers=HX)
    assert bad.status_code == 422 and 'id="settings-form"' in bad.get_data(as_text=True)


def test_start_wants_the_stream_enqueues_one_host_and_stop_disables(signed_in, tenant):
    from rq import Queue

    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    response = signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/start", headers=HX)
    assert response.status_code == 200 and "Stop stream" in response.get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in response.get_data(as_text=True)
    signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/start", headers=HX)
    jobs = Queue("streams", connection=queues.connection).get_jobs()
    assert [j.func_name for j in jobs] == ["workers.streams.host_streams"] and jobs[0].args == (0,)
    assert queues.connection.smembers(WANTED) == {f"{tenant.id}:{stream.id}".encode()}
    signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/stop", headers=HX)
    assert not _stream(tenant).enabled


def test_resync_clears_checkpoint_and_flag(signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    with tenant_context(tenant.id):
        row = db.session.get(StreamMetadata, stream.id)
        row.resync_needed, row.last_timepoint, row.connection_status = True, 123, "error"
    page = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}").get_data(as_text=True)
    assert "Resync needed" in page
    refused = signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/start")
    assert refused.status_code == 302 and _stream(tenant).resync_needed
    signed_in.post(f"/t/{tenant.slug}/streams/{stream.id}/resync", headers=HX)
    stream = _stream(tenant)
    assert not stream.resync_needed and stream.last_timepoint is None and stream.enabled


def test_rejected_key_and_resync_needed_read_clearly_on_the_dashboard(signed_in, tenant):
    from strata.streams import status

    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    with tenant_context(tenant.id):
        db.session.get(StreamMetadata, stream.id).enabled = True
        db.session.commit()
        status.unauthorized(stream.id, stream.url, '{"error":"Invalid Authorization","type":"ch:service"}')
    page = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}").get_data(as_text=True)
    assert "Stream key rejected by https://stream.example.test/companies (401" in page
    assert "Enter a valid key and start the stream again." in page and "Start stream" in page
    assert "stopped" in signed_in.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    listed = signed_in.get(f"/t/{tenant.slug}/streams/").get_data(as_text=True)
    assert 'stopped <small class="muted">· key rejected</small>' in listed
    with tenant_context(tenant.id):
        status.resync_needed(stream.id, 47695461)
    page = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}").get_data(as_text=True)
    assert "Resync needed." in page and "no longer has timepoint 47695462 (416" in page
    assert "Resync from now" in page and "Start stream" not in page
    assert "resync needed" in signed_in.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    listed = signed_in.get(f"/t/{tenant.slug}/streams/").get_data(as_text=True)
    assert 'error <small class="muted">· resync needed</small>' in listed
    with tenant_context(tenant.id):
        row = db.session.get(StreamMetadata, stream.id)
        row.enabled, row.resync_needed, row.connection_status = True, False, "connected"
    listed = signed_in.get(f"/t/{tenant.slug}/streams/").get_data(as_text=True)
    assert 'not running <small class="muted">· no live consumer: waiting for a streams worker</small>' in listed


def _log(tenant, stream_id, **values):
    with tenant_context(tenant.id):
        event = StreamEvent(stream_id=stream_id, **values)
        db.session.add(event)
        db.session.flush()
        return event.id


def test_events_log_filters_detail_and_retry(signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    good = ('{"resource_kind":"company-profile","resource_id":"SC571653","event":{"timepoint":7,"type":"changed",'
            '"published_at":"2024-06-27T17:14:02"},"data":{"company_name":"THISTLE MEDIA LTD",'
            '"company_number":"SC571653","company_status":"active"}}')
    failed = _log(tenant, stream.id, event_id="malformed:6:ab", event_type="malformed",
                  event_data={"raw": good}, processing_status="failed", error_message="Could not store")
    _log(tenant, stream.id, event_id="5", timepoint=5, event_type="changed", company_number="01234567",
         event_data={"event": {"timepoint": 5}}, processing_status="processed")
    base = f"/t/{tenant.slug}/streams/{stream.id}/events"
    page = signed_in.get(base + "?status=failed").get_data(as_text=True)
    assert "Could not store" in page and "01234567" not in page
    assert "01234567" in signed_in.get(base + "?company_number=01234567").get_data(as_text=True)
    by_type = signed_in.get(base + "?event_type=changed").get_data(as_text=True)
    assert "01234567" in by_type and "Could not store" not in by_type
    for query, message in (("status=weird", "Status must be one of"),
                           ("company_number=AB%00C", "company_number must not contain NUL characters"),
                           ("event_type=x%00", "event_type must not contain NUL characters"),
                           ("page=%C2%B2", "Page must be a whole number"), ("page=" + "9" * 5000, "Page must be")):
        bad = signed_in.get(f"{base}?{query}", headers=HX)
        assert bad.status_code == 422 and message.lower() in bad.get_data(as_text=True).lower(), query
    detail = signed_in.get(f"{base}/{failed}").get_data(as_text=True)
    assert "THISTLE MEDIA LTD" in detail
    retried = signed_in.post(f"{base}/{failed}/retry", headers=HX)
    assert retried.status_code == 200 and "processed" in retried.get_data(as_text=True)
    with tenant_context(tenant.id):
        company = db.session.scalar(select(Company).where(Company.company_number == "SC571653"))
        assert company.name == "THISTLE MEDIA LTD" and company.stream_timepoint == 7


def test_retry_all_failed_events_reports_what_now_passes(client, login, make_user, signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    good = ('{"resource_kind":"company-profile","resource_id":"15893094","event":{"timepoint":9,"type":"changed"},'
            '"data":{"company_name":"KESTREL FOODS LIMITED","company_number":"15893094"}}')
    fixable = _log(tenant, stream.id, event_id="malformed:8:aa", event_type="malformed", event_data={"raw": good},
                   processing_status="failed", error_message="Could not store")
    broken = _log(tenant, stream.id, event_id="malformed:9:bb", event_type="malformed",
                  event_data={"raw": '{"event": {"timepoint": 1'}, processing_status="failed", error_message="x")
    base = f"/t/{tenant.slug}/streams/{stream.id}/events"
    response = signed_in.post(f"{base}/retry-failed", headers=HX)
    assert response.status_code == 200 and response.headers["HX-Redirect"].endswith("/events?status=failed")
    page = signed_in.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert "1 failed event(s) processed; 1 still failing." in page
    with tenant_context(tenant.id):
        assert db.session.get(StreamEvent, fixable).processing_status == "processed"
        still = db.session.get(StreamEvent, broken)
        assert still.processing_status == "failed" and "Malformed line" in still.error_message
        assert db.session.scalar(select(Company.name).where(Company.company_number == "15893094")) == \
            "KESTREL FOODS LIMITED"
    viewer = make_user()
    login(viewer, tenant=tenant, role="viewer")
    assert client.post(f"{base}/retry-failed").status_code == 403
    assert client.post(f"{base}/{broken}/retry").status_code == 403


def test_company_page_shows_stream_fields_and_history(signed_in, tenant):
    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    with tenant_context(tenant.id):
        company = Company(name="KESTREL FOODS LIMITED", company_number="15893094", company_status="active",
                          stream_timepoint=47695461, stream_event_type="changed", sic_codes=["10710"])
        db.session.add(company)
        db.session.flush()
        company_id = company.id
    _log(tenant, stream.id, event_id="47695461", timepoint=47695461, event_type="changed", company_number="15893094",
         event_data={"event": {"timepoint": 47695461, "fields_changed": ["company_status"]}},
         processing_status="processed")
    page = signed_in.get(f"/t/{tenant.slug}/companies/{company_id}").get_data(as_text=True)
    assert "Companies House" in page and "10710" in page and "47695461" in page and "company_status" in page


def test_other_tenants_stream_is_404_and_viewers_cannot_start(client, login, make_user, make_tenant, tenant, admin):
    login(admin, tenant=tenant)
    client.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    other = make_tenant()
    login(admin, tenant=other)
    assert client.get(f"/t/{other.slug}/streams/{stream.id}").status_code == 404
    assert client.get(f"/t/{other.slug}/streams/{stream.id}/events/1").status_code == 404
    viewer = make_user()
    login(viewer, tenant=tenant, role="viewer")
    assert client.post(f"/t/{tenant.slug}/streams/{stream.id}/start").status_code == 403
    assert client.get(f"/t/{tenant.slug}/streams/{stream.id}").status_code == 200


def test_dashboard_shows_stall_alarm_lag_and_chart_data(signed_in, tenant):
    from datetime import UTC, datetime, timedelta

    signed_in.post(f"/t/{tenant.slug}/streams/", data=GOOD)
    stream = _stream(tenant)
    with tenant_context(tenant.id):
        row = db.session.get(StreamMetadata, stream.id)
        row.enabled, row.connection_status, row.stall_after_seconds = True, "connected", 60
        row.last_event_at = datetime.now(UTC) - timedelta(minutes=5)
        row.last_published_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
        row.last_timepoint = 47695461
    _log(tenant, stream.id, event_id="47695461", timepoint=47695461, event_type="changed",
         company_number="15893094", event_data={"event": {"timepoint": 47695461}}, processing_status="processed")
    body = signed_in.get(f"/t/{tenant.slug}/streams/{stream.id}/status", headers=HX).get_data(as_text=True)
    assert "Stall alarm" in body and "10 min" in body and "47695461" in body
    assert 'id="epm-data"' in body and '"counts": [' in body and 'hx-trigger="every 2s"' in body
    card = signed_in.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Companies House stream" in card and 'class="figure">not running<' in card  # no consumer's heartbeat
    queues.connection.set(lock_name(tenant.id, stream.id), "a live consumer", ex=5)
    assert 'class="figure">connected<' in signed_in.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    listed = signed_in.get(f"/t/{tenant.slug}/streams/").get_data(as_text=True)
    assert 'connected <small class="muted">· stalled</small>' in listed


def test_company_page_shows_latest_officers_filings_pscs_and_charges(signed_in, tenant):
    import json
    from pathlib import Path

    from strata.streams import service
    from strata.streams.ingest import write_batch
    from strata.streams.protocol import parse_line

    fixtures = Path(__file__).parent / "fixtures"
    with tenant_context(tenant.id):
        company = Company(name="Crown Way Digital", company_number="10676322")
        db.session.add(company)
        db.session.flush()
        company_id = company.id
        for stream_type, name in (("company-officers", "officers"), ("filing-history", "filings"),
                                  ("company-charges", "charges"), ("company-psc-individual",
                                                                   "persons-with-significant-control")):
            stream = service.create_stream({**GOOD, "stream_type": stream_type}, None)
            db.session.flush()
            events = json.loads((fixtures / f"{name}.json").read_text())
            for event in events:  # the PSC samples are about company 09876543: file them under ours too
                event["resource_uri"] = event["resource_uri"].replace("09876543", "10676322")
            write_batch(stream.id, [parse_line(json.dumps(e).encode()) for e in events])
    page = signed_in.get(f"/t/{tenant.slug}/companies/{company_id}").get_data(as_text=True)
    # Officers: James Brian's appointment was deleted; Jane Smith's shows her resignation (the latest event).
    assert "SMITH, Jane" in page and "2026-11-25" in page and "BRIAN, James" not in page
    # Filings: the micro-entity accounts (the other filing belongs to another company).
    assert "accounts with accounts type micro entity" in page and "AP01" not in page
    # Charges: satisfied by the latest event.
    assert "106763220003" in page and "fully-satisfied" in page and "Barclays Bank PLC" in page
    # PSCs of several kinds, the deleted legal person gone, the individual ceased.
    assert "Mr James Brian" in page and "ACME HOLDINGS LIMITED" in page and "A Legal Person" not in page
    assert "corporate entity beneficial owner" in page and "2026-11-20" in page
    events = signed_in.get(f"/t/{tenant.slug}/streams/events?company_number=10676322").get_data(as_text=True)
    assert "company-officers" in events and "filing-history" in events and "company-charges" in events


def test_dashboard_card_sums_up_several_streams(signed_in, tenant):
    for stream_type in ("company-profile", "filing-history"):
        signed_in.post(f"/t/{tenant.slug}/streams/", data={**GOOD, "stream_type": stream_type})
    with tenant_context(tenant.id):
        rows = db.session.scalars(select(StreamMetadata).order_by(StreamMetadata.id)).all()
        for row in rows:
            row.enabled, row.connection_status = True, "connected"
        ids = [row.id for row in rows]
    queues.connection.set(lock_name(tenant.id, ids[0]), "a live consumer", ex=5)
    card = signed_in.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert 'class="figure">1 of 2 connected<' in card
    assert "Filing history: no live consumer: waiting for a streams worker" in card
