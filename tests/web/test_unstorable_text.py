"""Text the database cannot store (a NUL character) sent to every page and form: a clear refusal, never a 500."""

import re

from tests.routes import rule_url as _url

NUL = "a\x00b"
FIELD = re.compile(r'name="([A-Za-z_][\w.\-\[\]]*)"')


def _tenant_rules(app, method: str):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/t/<slug>") and method in rule.methods and "graphiql" not in rule.rule:
            yield rule


def test_nul_in_any_query_or_form_field_is_never_a_500(app, client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    names: set[str] = {"q", "page", "name", "prefix", "status", "sort"}
    for rule in _tenant_rules(app, "GET"):
        page = client.get(_url(rule, tenant.slug))
        if page.mimetype == "text/html":
            names.update(FIELD.findall(page.get_data(as_text=True)))
    names.discard("csrf_token")
    crashes = []
    for rule in _tenant_rules(app, "GET"):
        url = _url(rule, tenant.slug)
        response = client.get(url, query_string={name: NUL for name in names})
        if response.status_code >= 500:
            crashes.append(f"GET {url}")
    for rule in _tenant_rules(app, "POST"):
        url = _url(rule, tenant.slug)
        response = client.post(url, data={name: NUL for name in names})
        if response.status_code >= 500:
            crashes.append(f"POST {url}")
    assert not crashes, crashes


def test_nul_in_json_bodies_of_the_apis_is_a_422(app, client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    base = f"/api/t/{tenant.slug}"
    bodies = {
        f"{base}/companies": {"name": NUL},
        f"{base}/partners": {"name": NUL},
        f"{base}/products": {"name": NUL, "sku": NUL},
        f"{base}/reports/": {"name": NUL, "data_source": "companies"},
        f"{base}/things/classes": {"name": NUL},
    }
    for url, body in bodies.items():
        response = client.post(url, json=body)
        assert response.status_code == 422, (url, response.status_code, response.get_data(as_text=True)[:300])
