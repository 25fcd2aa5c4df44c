"""Each registered source computes one segment from real tenant tables (or a real HTTP server)."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from strata.db import db
from strata.errors import ValidationError
from strata.reports import sources
from strata.reports.segmentation import segments
from strata.tenancy.service import tenant_context

WEEK = segments(date(2026, 3, 2), date(2026, 3, 8), "weekly", "Europe/London")[0]
WINDOW = sources.Window(WEEK.start, WEEK.end, WEEK.period_start, WEEK.period_end)


def compute(tenant, key, metric, **filters):
    params = sources.validate(key, metric, {k: str(v) for k, v in filters.items()})
    with tenant_context(tenant.id):
        return sources.REGISTRY[key].compute(params, WINDOW)


def sql(tenant, statement, **params):
    with tenant_context(tenant.id):
        db.session.execute(db.text(statement), params)


def test_companies_counts_incorporations_and_status_changes_inside_the_segment(member):
    tenant, _ = member
    # Incorporations follow the date of creation, not when the row was added to Strata.
    sql(tenant, """INSERT INTO companies (name, date_of_creation, created_at, updated_at) VALUES
        ('In', '2026-03-03', '2026-05-03T10:00Z', '2026-05-03T10:00Z'),
        ('Last day', '2026-03-08', '2026-05-03T10:00Z', '2026-05-03T10:00Z'),
        ('Added in the week, incorporated long ago', '1999-01-01', '2026-03-03T10:00Z', '2026-03-03T10:00Z'),
        ('Changed', '2001-01-01', '2026-01-01T10:00Z', '2026-03-07T09:00Z'),
        ('Before', '2026-03-01', '2026-03-01T23:59Z', '2026-03-01T23:59Z'),
        ('After', '2026-03-09', '2026-03-09T00:00Z', '2026-03-09T00:00Z')""")
    assert compute(tenant, "companies", "both") == {"Incorporations": 2, "Status changes": 1}
    assert compute(tenant, "companies", "incorporations") == {"Incorporations": 2}


def test_business_objects_created_per_kind_and_filtered(member):
    tenant, _ = member
    sql(tenant, """INSERT INTO companies (id, name, created_at, updated_at) VALUES (1, 'A', '2026-03-04', '2026-03-04');
                   INSERT INTO partners (company_id, name, created_at, updated_at)
                   VALUES (1, 'P', '2026-03-05', '2026-03-06'), (1, 'Q', '2026-03-05', '2026-03-05')""")
    assert compute(tenant, "business_objects", "created") == {"Companies": 1, "Partners": 2, "Products": 0}
    assert compute(tenant, "business_objects", "updated", entity="partners") == {"Partners": 1}


def test_stream_events_counted_by_type(member):
    tenant, _ = member
    sql(tenant, """INSERT INTO stream_metadata (id, stream_type, base_url, stream_key)
        VALUES (1, 'companies', 'x', 'k');
        INSERT INTO stream_events_log (stream_id, event_id, event_type, received_at) VALUES
        (1, 'e1', 'changed', '2026-03-02T01:00Z'), (1, 'e2', 'changed', '2026-03-05T01:00Z'),
        (1, 'e3', 'deleted', '2026-03-06T01:00Z'), (1, 'e4', 'changed', '2026-03-10T01:00Z')""")
    assert compute(tenant, "stream_events", "count") == {"changed": 2, "deleted": 1}
    assert compute(tenant, "stream_events", "count", event_type="deleted") == {"deleted": 1}


def test_things_created_per_class_ignoring_deleted(member):
    tenant, _ = member
    sql(tenant, """INSERT INTO thing_classes (id, name) VALUES (1, 'Machine'), (2, 'Site');
        INSERT INTO things (thing_class_id, name, created_at) VALUES
        (1, 'm1', '2026-03-03'), (1, 'm2', '2026-03-04'), (2, 's1', '2026-03-04'), (2, 's0', '2026-02-01');
        INSERT INTO things (thing_class_id, name, created_at, is_deleted, deleted_at)
        VALUES (1, 'gone', '2026-03-04', true, now())""")
    assert compute(tenant, "things", "created") == {"Machine": 2, "Site": 1}
    assert compute(tenant, "things", "created", class_name="Site") == {"Site": 1}


class _Handler(BaseHTTPRequestHandler):
    calls: list[str] = []
    fail_first = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).calls.append(self.path)
        if "slow" in self.path:
            time.sleep(1.5)
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        body = b"not json" if "bad" in self.path else json.dumps([{"key": "orders", "value": 12}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(app):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # a slow answer does not hold up the retry
    app.config["OUTBOUND_ALLOW"] = f"127.0.0.1:{server.server_port}"  # loopback is refused unless allowed
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.calls, _Handler.fail_first = [], 0
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_json_fetches_once_per_attempt_with_the_dates(member, http_server):
    tenant, _ = member
    result = compute(tenant, "http_json", "value", url_template=http_server + "/stats?from={start}&to={end}",
                     timeout=2)
    assert result == {"orders": 12.0}
    assert _Handler.calls == ["/stats?from=2026-03-02&to=2026-03-08"]


def test_http_json_errors_carry_what_the_retry_policy_needs(member, http_server):
    tenant, _ = member
    with pytest.raises(sources.SourceError, match="not JSON") as caught:
        compute(tenant, "http_json", "value", url_template=http_server + "/bad?{start}", timeout=2)
    assert not caught.value.retryable
    _Handler.fail_first = 1
    with pytest.raises(sources.SourceError, match="HTTP 503") as caught:
        compute(tenant, "http_json", "value", url_template=http_server + "/x?{start}", timeout=2)
    assert (caught.value.status, caught.value.retryable) == (503, True) and len(_Handler.calls) == 2


def test_http_json_gives_up_after_its_timeout(member, http_server):
    tenant, _ = member
    started = time.monotonic()
    with pytest.raises(sources.SourceError, match="No answer from .*/slow"):
        compute(tenant, "http_json", "value", url_template=http_server + "/slow?{start}", timeout=0.5)
    assert len(_Handler.calls) == 1 and time.monotonic() - started < 1.4


@pytest.mark.parametrize("filters, field", [
    ({"url_template": "ftp://x/{start}"}, "url_template"),
    ({"url_template": "http://x/{begin}"}, "url_template"),
    ({"url_template": "http://x/{start}", "timeout": "0"}, "timeout"),
])
def test_http_json_parameters_are_validated(filters, field):
    with pytest.raises(ValidationError) as caught:
        sources.validate("http_json", "value", filters)
    assert [e.field for e in caught.value.errors] == [field]


def test_series_shapes():
    assert sources.series_from_json(3) == {"value": 3}
    assert sources.series_from_json({"a": 1, "b": 2.5}) == {"a": 1, "b": 2.5}
    with pytest.raises(sources.SourceError):
        sources.series_from_json({"a": "x"})
