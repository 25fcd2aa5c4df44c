"""Security headers on every answer of the URL map; no inline script in any page; rq-dashboard cannot be
driven cross-site (CSRF on its POSTs, no state change on GET)."""

from __future__ import annotations

import re

from tests.routes import rule_url

SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
SKIP = ("/static", "/admin/rq/static", "/admin/rq/favicon")
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _assert_headers(response, url):
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, url
    if not url.startswith("/admin/rq/"):
        assert "script-src 'self';" in policy, url
    assert headers.get("X-Content-Type-Options") == "nosniff", url
    assert headers.get("X-Frame-Options") == "DENY", url
    assert headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", url


def test_every_route_answers_with_the_security_headers_and_no_inline_script(app, client, login, make_tenant,
                                                                           make_user):
    tenant = make_tenant()
    login(make_user(admin=True), tenant=tenant, role="admin")
    pages = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIP) or rule.rule == "/logout":
            continue
        url = rule_url(rule, tenant.slug)
        response = client.get(url)
        _assert_headers(response, url)
        if response.mimetype == "text/html" and response.status_code == 200 and not url.startswith("/admin/rq/"):
            html = response.get_data(as_text=True)
            assert not SCRIPT.search(html), (url, SCRIPT.search(html).group(0))
            assert not HANDLER.search(html), (url, HANDLER.search(html).group(0))
            pages += 1
    for url in ("/login", "/nowhere", "/healthz"):
        _assert_headers(client.get(url), url)
    assert pages > 20


def test_pages_with_charts_and_forms_load_their_behaviour_from_files(client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    html = client.get(f"/t/{tenant.slug}/things/graphiql").get_data(as_text=True)
    assert "js/graphiql.js" in html and 'data-url="/api/t/' in html
    base = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert '"allowEval": false' in base and '"includeIndicatorStyles": false' in base


def test_the_rq_dashboard_cannot_be_driven_cross_site(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    admin = make_user(admin=True)
    login = client.get("/login").get_data(as_text=True)
    token = login.split('name="csrf-token" content="')[1].split('"')[0]
    from tests.conftest import TEST_PASSWORD

    client.post("/login", data={"email": admin.email, "password": TEST_PASSWORD, "csrf_token": token})
    assert client.get("/admin/rq/").status_code == 200
    assert client.get("/admin/rq/requeue/default").status_code == 405  # no state change on GET
    for url in ("/admin/rq/requeue/default", "/admin/rq/job/abc/requeue", "/admin/rq/job/abc/delete",
                "/admin/rq/queue/default/failed/empty", "/admin/rq/queue/default/compact"):
        assert client.post(url).status_code == 400, url  # a page on another site has no token
    page = client.get("/admin/rq/").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    assert client.post("/admin/rq/requeue/default", headers={"X-CSRFToken": token}).status_code == 200
