"""The page frame: tenant links in sections with the current page and section marked, an account menu,
a skip link to the content, a favicon, and an expired session during htmx sent to sign-in and back."""

import re


def _current(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', html)


def test_sections_and_current_page(client, login, make_tenant):
    tenant = make_tenant("acme", "Acme Ltd")
    login(tenant=tenant, role="admin")

    page = client.get("/t/acme/companies/").get_data(as_text=True)
    for section in ("Data", "Build", "Integrations", "Admin"):
        assert f'aria-label="{section}"' in page
    # Companies is marked in the wide bar and in the narrow menu; its section too.
    assert _current(page) == ["Companies", "Companies"]
    assert '<ul class="current-section" aria-label="Data">' in page
    assert '<li class="nav-section current-section">Data</li>' in page

    page = client.get("/t/acme/").get_data(as_text=True)
    assert _current(page) == ["Dashboard", "Dashboard"]

    page = client.get("/t/acme/settings/fields").get_data(as_text=True)
    assert _current(page) == ["Fields", "Fields"]
    assert '<ul class="current-section" aria-label="Build">' in page

    page = client.get("/t/acme/members").get_data(as_text=True)
    assert '<ul class="current-section" aria-label="Admin">' in page


def test_skip_link_account_menu_and_favicon(client, login, make_tenant):
    tenant = make_tenant("acme", "Acme Ltd")
    login(tenant=tenant)
    page = client.get("/t/acme/").get_data(as_text=True)
    assert '<a class="skip-link" href="#content">Skip to content</a>' in page
    assert '<main class="container" id="content">' in page
    assert 'class="dropdown account-menu"' in page and 'class="dropdown mobile-menu"' in page
    assert 'rel="icon" href="/static/favicon.svg"' in page

    icon = client.get("/favicon.ico")
    assert icon.status_code == 301 and icon.headers["Location"].endswith("/static/favicon.svg")
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    svg.close()


def test_expired_session_during_htmx_goes_to_sign_in_and_back(client, make_tenant):
    make_tenant("acme", "Acme Ltd")
    htmx = {"HX-Request": "true", "HX-Current-URL": "http://localhost/t/acme/companies/?q=north"}

    # A tenant page's partial and a login_required page: 401 with the whole page sent to sign-in.
    for url in ("/t/acme/companies/", "/"):
        response = client.get(url, headers=htmx)
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/login?next=/t/acme/companies/?q%3Dnorth"
        assert b"Sign in" not in response.data

    # Without htmx the browser is redirected as before.
    response = client.get("/t/acme/companies/")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_htmx_post_after_the_session_ended_goes_to_sign_in(make_app, make_tenant):
    app = make_app(WTF_CSRF_ENABLED=True)
    make_tenant("acme", "Acme Ltd")
    client = app.test_client()
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/t/acme/members"}
    response = client.post("/t/acme/members", data={"email": "x@example.com"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/t/acme/members"
    # Without htmx the token error stays an error page.
    assert client.post("/t/acme/members", data={"email": "x@example.com"}).status_code == 400
