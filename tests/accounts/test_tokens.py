"""API tokens: created on the account page, shown once, sent as a Bearer header; revoked ones stop at once."""

import re

import pytest
from sqlalchemy import select

from strata.accounts.models import ApiToken
from strata.accounts.tokens import create_token
from strata.business_objects.models import Company
from strata.db import db
from strata.tenancy.service import tenant_context
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def csrf_app(make_app):
    """CSRF on, as in production: token requests must pass without a CSRF token, cookie ones must not."""
    return make_app(WTF_CSRF_ENABLED=True)


def _sign_in(client, user) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302


def test_token_made_on_the_page_works_for_reads_and_writes_without_csrf(csrf_app, make_user, make_tenant):
    user = make_user()
    tenant = make_tenant(members={user: "editor"})
    browser = csrf_app.test_client()
    _sign_in(browser, user)
    page = browser.get("/account/tokens").get_data(as_text=True)
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    made = browser.post("/account/tokens", data={"name": "nightly export", "csrf_token": form_token})
    assert made.status_code == 200
    plain = re.search(r'<code id="token-value">([^<]+)</code>', made.get_data(as_text=True)).group(1)
    assert plain.startswith("strata_") and plain not in browser.get("/account/tokens").get_data(as_text=True)
    assert db.session.scalar(select(ApiToken.token_hash)) != plain  # only the digest is stored

    script = csrf_app.test_client()  # no cookies at all
    auth = {"Authorization": f"Bearer {plain}"}
    me = script.get(f"/api/t/{tenant.slug}/", headers=auth)
    assert me.status_code == 200 and me.get_json()["user"]["email"] == user.email
    assert me.get_json()["user"]["role"] == "editor"
    created = script.post(f"/api/t/{tenant.slug}/companies", json={"name": "Token Ltd"},
                          headers={"Authorization": f"Token {plain}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    with tenant_context(tenant.id):
        assert db.session.scalar(select(Company.name)) == "Token Ltd"
    assert db.session.scalar(select(ApiToken.last_used_at)) is not None
    # the token is for the API: pages still want a signed-in session
    assert script.get(f"/t/{tenant.slug}/", headers=auth).status_code == 302


def test_bad_revoked_and_foreign_tokens_are_refused(csrf_app, make_user, make_tenant):
    owner, other = make_user(), make_user()
    tenant = make_tenant(members={owner: "admin"})
    elsewhere = make_tenant(members={other: "admin"})
    token, plain = create_token(owner.id, "ci")
    client = csrf_app.test_client()
    url = f"/api/t/{tenant.slug}/"
    assert client.get(url, headers={"Authorization": "Bearer strata_not-a-token"}).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {plain}x"}).status_code == 401
    assert client.get(f"/api/t/{elsewhere.slug}/", headers={"Authorization": f"Bearer {plain}"}).status_code == 404
    # a wrong token is not rescued by a valid session: the header alone decides
    _sign_in(client, owner)
    assert client.get(url, headers={"Authorization": "Bearer strata_wrong"}).status_code == 401
    assert client.get(url).status_code == 200
    # and a cookie write without CSRF token is still refused
    assert client.post(f"/api/t/{tenant.slug}/companies", json={"name": "X"}).status_code == 400
    page = client.get("/account/tokens").get_data(as_text=True)
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert "ci" in page and plain[:12] in page
    revoked = client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": form_token})
    assert revoked.status_code == 302
    assert csrf_app.test_client().get(url, headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    # another user's token id is a 404 and changes nothing
    other_token, _ = create_token(other.id, "theirs")
    assert client.post(f"/account/tokens/{other_token.id}/revoke", data={"csrf_token": form_token}).status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, other_token.id).revoked_at is None


def test_blank_or_long_names_are_422_and_create_nothing(client, login):
    login()
    blank = client.post("/account/tokens", data={"name": "  "})
    assert blank.status_code == 422 and "Name the token" in blank.get_data(as_text=True)
    long = client.post("/account/tokens", data={"name": "x" * 101})
    assert long.status_code == 422 and "at most 100 characters" in long.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken.id)) is None


def test_tenant_roles_cannot_read_tokens(make_user, make_tenant):
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    create_token(user.id, "ci")
    with pytest.raises(ProgrammingError, match="permission denied"), tenant_context(tenant.id):
        db.session.execute(text("SELECT token_hash FROM public.api_tokens"))
