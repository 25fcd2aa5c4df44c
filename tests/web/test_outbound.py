"""User-given URLs cannot reach loopback, private, link-local or other internal addresses: refused when a
report source is defined and again when it is fetched (every redirect hop included); OUTBOUND_ALLOW opens
exceptions; failures do not tell a closed port from an open one; the retry policy backs off."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import ConfigError, load_settings
from strata import outbound
from strata.errors import ValidationError
from strata.reports import sources
from strata.reports.segmentation import segments
from strata.tenancy.service import tenant_context

REFUSED = [
    "http://127.0.0.1/x", "http://localhost/x", "http://127.1/x", "http://2130706433/x", "http://0x7f000001/x",
    "http://017700000001/x", "http://10.0.0.5/x", "http://172.16.3.4/x", "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:a9fe:a9fe]/x", "http://0.0.0.0/x", "http://224.0.0.1/x", "http://[fe80::1]/x",
    "http://[fc00::1]/x", "http://100.64.0.1/x", "http://[2002:7f00:1::]/x", "http://[64:ff9b::7f00:1]/x",
]


class _Handler(BaseHTTPRequestHandler):
    calls: list[str] = []
    plan: list[int] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).calls.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
            return
        status = type(self).plan.pop(0) if type(self).plan else 200
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"orders": 12}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.calls, _Handler.plan = [], []
    yield f"http://127.0.0.1:{httpd.server_port}", httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused_at_definition(url):
    with pytest.raises(ValidationError) as caught:
        outbound.check_url(url, "url_template", allow=[])
    assert caught.value.errors[0].field == "url_template" and caught.value.errors[0].rule == "address"


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused_at_fetch(url):
    with pytest.raises(outbound.OutboundError, match="Refused to fetch") as caught:
        outbound.fetch(url, timeout=2, allow=[])
    assert caught.value.retryable is False


def test_ports_other_than_80_and_443_are_refused_unless_allowed():
    with pytest.raises(ValidationError) as caught:
        outbound.check_url("http://93.184.216.34:8080/x", allow=[])
    assert caught.value.errors[0].rule == "port"
    assert outbound.check_url("https://93.184.216.34/x", allow=[]) is not None
    assert outbound.check_url("http://93.184.216.34:8080/x", allow=outbound.parse_allow("93.184.216.0/24:8080"))


def test_other_schemes_and_credentials_are_refused():
    for url in ("ftp://93.184.216.34/x", "file:///etc/passwd", "gopher://x/", "http://user:pw@93.184.216.34/"):
        with pytest.raises(ValidationError):
            outbound.check_url(url, allow=[])


def test_the_report_source_refuses_internal_urls_when_defined(app):
    for url in ("http://127.0.0.1:6379/{start}", "http://169.254.169.254/{start}", "http://2130706433/{start}",
                "http://10.1.2.3/{start}"):
        with pytest.raises(ValidationError) as caught:
            sources.validate("http_json", "value", {"url_template": url, "timeout": "2"})
        assert "url_template" in [e.field for e in caught.value.errors]


def test_the_reports_api_refuses_an_internal_url_with_a_422(client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="editor")
    body = {"name": "Metadata", "data_source": "http_json", "metric": "value", "lookback": "custom",
            "url_template": "http://169.254.169.254/latest?{start}", "start_date": "2026-01-05",
            "end_date": "2026-01-11", "segment_type": "weekly"}
    response = client.post(f"/api/t/{tenant.slug}/reports/", json=body)
    assert response.status_code == 422
    assert "url_template" in {e["field"] for e in response.get_json()["errors"]}


def _window():
    week = segments(date(2026, 3, 2), date(2026, 3, 8), "weekly", "Europe/London")[0]
    return sources.Window(week.start, week.end, week.period_start, week.period_end)


def test_the_report_source_refuses_at_fetch_time_without_the_allowlist(app, make_tenant, server):
    base, port = server
    tenant = make_tenant()
    app.config["OUTBOUND_ALLOW"] = ""
    params = {"metric": "value", "filters": {"url_template": base + "/stats?{start}", "timeout": "2"}}
    with tenant_context(tenant.id), pytest.raises(sources.SourceError, match="Refused") as caught:
        sources.REGISTRY["http_json"].compute(params, _window())
    assert caught.value.retryable is False and _Handler.calls == []
    app.config["OUTBOUND_ALLOW"] = f"127.0.0.1:{port}"
    with tenant_context(tenant.id):
        assert sources.REGISTRY["http_json"].compute(params, _window()) == {"orders": 12.0}


def test_a_redirect_to_loopback_is_refused_at_fetch_time(server):
    base, port = server
    allow = outbound.parse_allow(f"127.0.0.1:{port}")
    assert outbound.fetch(f"{base}/redirect?to={base}/ok", allow=allow).json() == {"orders": 12}
    for target in ("http://127.0.0.1:6379/", "http://localhost/", "http://169.254.169.254/", "http://2130706433/"):
        with pytest.raises(outbound.OutboundError, match="Refused"):
            outbound.fetch(f"{base}/redirect?to={target}", allow=allow)
    assert not any(call.startswith("/ok") and "6379" in call for call in _Handler.calls)


def test_redirects_are_bounded(server):
    base, port = server
    allow = outbound.parse_allow(f"127.0.0.1:{port}")
    chain = f"{base}/ok"
    for _ in range(5):
        chain = f"{base}/redirect?to={chain}"
    with pytest.raises(outbound.OutboundError, match="too many redirects"):
        outbound.fetch(chain, allow=allow, max_redirects=3)


def test_the_allowlist_setting_is_read_and_checked(tmp_path):
    env = {"DATABASE_URL": "postgresql://x@/x", "REDIS_URL": "redis://localhost:1"}
    settings = load_settings(tmp_path, {**env, "OUTBOUND_ALLOW": "intranet.example:8080, 10.0.0.0/8, 127.0.0.1:*"})
    entries = outbound.parse_allow(settings["OUTBOUND_ALLOW"])
    assert [(e.host, str(e.network) if e.network else None, e.port) for e in entries] == [
        ("intranet.example", None, 8080), (None, "10.0.0.0/8", None), (None, "127.0.0.1/32", 0)]
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOW"):
        load_settings(tmp_path, {**env, "OUTBOUND_ALLOW": "10.0.0.0/8:http"})
    assert outbound.check_url("http://10.2.3.4/x", allow=entries)
    with pytest.raises(ValidationError):
        outbound.check_url("http://10.2.3.4:5432/x", allow=entries)  # a range without a port: 80 and 443 only


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_errors_do_not_tell_a_closed_port_from_a_silent_one():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    closed = _closed_port()
    allow = outbound.parse_allow("127.0.0.1:*")
    messages = []
    try:
        for port in (closed, silent.getsockname()[1]):
            with pytest.raises(outbound.OutboundError) as caught:
                outbound.fetch(f"http://127.0.0.1:{port}/x", timeout=0.5, allow=allow)
            messages.append(str(caught.value).replace(str(port), "PORT"))
    finally:
        silent.close()
    assert messages[0] == messages[1]
    assert "refused" not in messages[0].lower() and "timeout" not in messages[0].lower().replace(" ", "")


def test_retry_policy_backs_off_honours_retry_after_and_skips_other_4xx(server):
    base, port = server
    allow = outbound.parse_allow(f"127.0.0.1:{port}")
    waits: list[float] = []
    _Handler.plan = [503, 429]
    response = outbound.fetch_with_retries(f"{base}/a", tries=3, sleep=waits.append, allow=allow)
    assert response.json() == {"orders": 12} and len(_Handler.calls) == 3
    assert waits[1] == 0.0 and 0.3 <= waits[0] <= 0.7  # back-off, then Retry-After: 0
    _Handler.calls, _Handler.plan, waits[:] = [], [404, 200], []
    with pytest.raises(outbound.OutboundError, match="HTTP 404") as caught:
        outbound.fetch_with_retries(f"{base}/b", tries=3, sleep=waits.append, allow=allow)
    assert caught.value.retryable is False and len(_Handler.calls) == 1 and waits == []
    assert [outbound.retryable(s) for s in (None, 408, 429, 500, 503, 400, 401, 403, 404, 422)] == [
        True, True, True, True, True, False, False, False, False, False]
    assert outbound.retry_after_seconds("7") == 7.0 and outbound.retry_after_seconds("9" * 40) == outbound.MAX_WAIT
    assert outbound.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert outbound.backoff(5) <= outbound.MAX_WAIT and outbound.backoff(1, 3.0) == 3.0
