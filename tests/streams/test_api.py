"""The streams JSON API: list, create (key write-only), update, start/stop/resync, status, events with filters."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from strata.core import queues
from strata.db import db
from strata.streams.host import WANTED
from strata.streams.ingest import write_batch
from strata.streams.models import StreamMetadata
from strata.streams.protocol import parse_line
from strata.tenancy.service import tenant_context

FIXTURES = Path(__file__).parent / "fixtures"
NEW = {"stream_type": "filing-history", "base_url": "https://stream.example.test", "stream_key": "s3cret-key-42",
       "track_all": True, "stall_after_seconds": 300}


@pytest.fixture
def api(client, login, tenant, admin):
    login(admin, tenant=tenant)
    return f"/api/t/{tenant.slug}/streams"


def test_create_list_update_never_return_the_key(client, api, tenant):
    created = client.post(f"{api}/", json=NEW)
    assert created.status_code == 201
    body = created.get_json()
    assert body["stream_type"] == "filing-history" and body["url"] == "https://stream.example.test/filings"
    assert body["enabled"] is False and body["state"] == "stopped" and body["track_all"] is True
    assert "s3cret" not in created.get_data(as_text=True)
    listed = client.get(f"{api}/").get_json()["streams"]
    assert [s["id"] for s in listed] == [body["id"]] and "s3cret" not in json.dumps(listed)
    changed = client.patch(f"{api}/{body['id']}", json={"stall_after_seconds": 120, "stream_key": "new-key-77"})
    assert changed.status_code == 200 and changed.get_json()["stall_after_seconds"] == 120
    assert changed.get_json()["base_url"] == "https://stream.example.test"  # left out: kept
    with tenant_context(tenant.id):
        assert db.session.scalar(select(StreamMetadata.stream_key)) == "new-key-77"
    assert client.get(f"{api}/{body['id']}").get_json()["stall_after_seconds"] == 120


@pytest.mark.parametrize("body, field, rule", [
    ({**NEW, "stream_type": "bogus"}, "stream_type", "choice"),
    ({**NEW, "base_url": "ftp://x"}, "base_url", "url"),
    ({**NEW, "stream_key": ""}, "stream_key", "required"),
    ({**NEW, "stream_key": 5}, "stream_key", "type"),
    ({**NEW, "enabled": "yes"}, "enabled", "type"),
    ({**NEW, "track_all": 1}, "track_all", "type"),
    ({**NEW, "stall_after_seconds": 5}, "stall_after_seconds", "range"),
    ({**NEW, "stall_after_seconds": True}, "stall_after_seconds", "type"),
    ({**NEW, "stall_after_seconds": [1]}, "stall_after_seconds", "type"),
    ({**NEW, "colour": "red"}, "colour", "unknown"),
    ([1, 2], "body", "json"),
])
def test_bad_input_is_422_naming_field_and_rule(client, api, body, field, rule):
    response = client.post(f"{api}/", json=body)
    assert response.status_code == 422
    assert (field, rule) in {(e["field"], e["rule"]) for e in response.get_json()["errors"]}
    assert client.get(f"{api}/").get_json()["streams"] == []


def test_start_stop_resync_and_status(client, api, tenant):
    stream_id = client.post(f"{api}/", json=NEW).get_json()["id"]
    started = client.post(f"{api}/{stream_id}/start")
    assert started.status_code == 200 and started.get_json()["enabled"] is True
    assert started.get_json()["state"] == "not running"  # no worker has taken it yet
    assert queues.connection.smembers(WANTED) == {f"{tenant.id}:{stream_id}".encode()}
    status = client.get(f"{api}/{stream_id}/status").get_json()
    assert status["events_total"] == 0 and status["stalled"] is False and len(status["per_minute"]) == 30
    stopped = client.post(f"{api}/{stream_id}/stop").get_json()
    assert stopped["enabled"] is False and stopped["state"] == "stopped"
    with tenant_context(tenant.id):
        db.session.get(StreamMetadata, stream_id).resync_needed = True
    assert client.post(f"{api}/{stream_id}/start").status_code == 422
    resynced = client.post(f"{api}/{stream_id}/resync").get_json()
    assert resynced["resync_needed"] is False and resynced["enabled"] is True and resynced["last_timepoint"] is None
    assert client.post(f"{api}/{stream_id}/pause").status_code == 404
    assert client.get(f"{api}/999999/status").status_code == 404


def test_events_with_filters_across_streams(client, api, tenant):
    ids = {}
    for stream_type, fixture in (("filing-history", "filings"), ("company-officers", "officers")):
        ids[stream_type] = client.post(f"{api}/", json={**NEW, "stream_type": stream_type}).get_json()["id"]
        events = json.loads((FIXTURES / f"{fixture}.json").read_text())
        broken = {**events[0], "resource_uri": "/nowhere"}
        broken["event"] = {**broken["event"], "timepoint": 1}
        with tenant_context(tenant.id):
            write_batch(ids[stream_type], [parse_line(json.dumps(e).encode()) for e in [broken, *events]])
    filings = client.get(f"{api}/{ids['filing-history']}/events").get_json()["events"]
    assert len(filings) == 5 and {e["resource_kind"] for e in filings} == {"filing-history"}
    failed = client.get(f"{api}/{ids['filing-history']}/events?status=failed").get_json()["events"]
    assert [(e["company_number"], e["processing_status"]) for e in failed] == [(None, "failed")]
    assert failed[0]["error_message"].startswith("resource_uri: '/nowhere' does not name a company")
    deleted = client.get(f"{api}/{ids['filing-history']}/events?type=deleted").get_json()["events"]
    assert [e["company_number"] for e in deleted] == ["SC571653"]
    # Across streams: every event about one company, whichever stream it came on.
    about = client.get(f"{api}/events?company_number=10676322").get_json()
    assert {e["stream_id"] for e in about["events"]} == set(ids.values())
    assert all(e["company_number"] == "10676322" and e["processing_status"] == "processed"
               for e in about["events"]) and about["next_page"] is None
    bad = client.get(f"{api}/events?status=sideways")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "status"


def test_viewers_read_but_do_not_write_and_other_tenants_see_nothing(client, login, make_user, make_tenant, api,
                                                                      tenant):
    stream_id = client.post(f"{api}/", json=NEW).get_json()["id"]
    viewer = make_user(name="Vic Viewer")
    other = make_tenant(members={viewer: "viewer"})
    login(viewer, tenant=other)
    other_api = f"/api/t/{other.slug}/streams"
    assert client.get(f"{other_api}/").get_json()["streams"] == []
    assert client.post(f"{other_api}/", json=NEW).status_code == 403
    assert client.get(f"{other_api}/{stream_id}").status_code == 404  # another tenant's stream
    assert client.get(f"{api}/").status_code == 404  # not a member there


def test_streams_are_in_the_openapi_document(client, api, tenant):
    document = client.get(f"/api/t/{tenant.slug}/openapi.json").get_json()
    paths = document["paths"]
    for path in ("/streams/", "/streams/{stream_id}", "/streams/{stream_id}/status", "/streams/{stream_id}/events",
                 "/streams/events"):
        assert path in paths, path
    assert "post" in paths["/streams/"] and "patch" in paths["/streams/{stream_id}"]
