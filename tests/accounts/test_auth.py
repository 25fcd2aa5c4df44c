"""Sign-up, sign-in with its rate limit, sign-out, and CSRF on forms and htmx calls."""

import re

import pytest
from sqlalchemy import select

from strata.accounts.models import User
from strata.db import db
from tests.conftest import TEST_PASSWORD


def test_first_user_becomes_platform_admin_and_later_ones_do_not(client):
    first = client.post("/signup", data={"email": "Owner@Example.com", "password": "long enough", "name": "O"})
    assert first.status_code == 302 and first.headers["Location"].endswith("/admin/tenants")
    client.post("/logout")
    second = client.post("/signup", data={"email": "member@example.com", "password": "long enough"})
    assert second.status_code == 302
    users = {u.email: u for u in db.session.scalars(select(User))}
    assert users["owner@example.com"].is_platform_admin is True
    assert users["member@example.com"].is_platform_admin is False
    assert users["owner@example.com"].password_hash != "long enough"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "", "password": "long enough"}, "email", "Email is required."),
        ({"email": "not-an-email", "password": "long enough"}, "email", "Email must look like"),
        ({"email": "a@example.com", "password": "short"}, "password", "at least 8 characters"),
    ],
)
def test_signup_errors_are_inline_and_create_nothing(client, form, field, message):
    response = client.post("/signup", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id)) is None


def test_duplicate_email_is_refused(client, make_user):
    make_user("taken@example.com")
    response = client.post("/signup", data={"email": "TAKEN@example.com", "password": "long enough"})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_login_and_logout(client, make_user):
    user = make_user("person@example.com")
    response = client.post("/login", data={"email": "Person@Example.com", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert db.session.get(User, user.id).last_login_at is not None
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("person@example.com")
    response = client.post("/login", data={"email": "person@example.com", "password": "wrong password"})
    assert response.status_code == 401
    assert "Email or password is wrong." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_rate_limit_blocks_even_the_right_password(client, make_user, app):
    make_user("person@example.com")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert client.post("/login", data={"email": "person@example.com", "password": "nope"}).status_code == 401
    blocked = client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert client.get("/").status_code == 302
    # Another account from the same address is not locked out by this one's failures.
    make_user("other@example.com")
    assert client.post("/login", data={"email": "other@example.com", "password": TEST_PASSWORD}).status_code == 302


def test_successful_login_clears_the_account_failures(client, make_user, app):
    make_user("person@example.com")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        client.post("/login", data={"email": "person@example.com", "password": "nope"})
    assert client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD}).status_code == 302
    client.post("/logout")
    client.post("/login", data={"email": "person@example.com", "password": "nope"})
    assert client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD}).status_code == 302


def test_open_redirect_is_refused(client, make_user):
    make_user("person@example.com")
    response = client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD,
                                           "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


@pytest.fixture
def csrf_client(app, make_app):
    return make_app(WTF_CSRF_ENABLED=True).test_client()


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_form_post_without_csrf_token_is_400_and_changes_nothing(csrf_client):
    response = csrf_client.post("/signup", data={"email": "a@example.com", "password": "long enough"})
    assert response.status_code == 400
    assert "Security token missing" in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id)) is None


def test_htmx_post_without_csrf_header_is_400(csrf_client, make_user, make_tenant):
    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    token = _token(csrf_client.get("/login").get_data(as_text=True))
    csrf_client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token})
    page = csrf_client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    without = csrf_client.post(f"/t/{tenant.slug}/members", data={"email": user.email, "role": "viewer"},
                               headers={"HX-Request": "true"})
    assert without.status_code == 400
    with_header = csrf_client.post(f"/t/{tenant.slug}/members", data={"email": "nobody@example.com", "role": "viewer"},
                                   headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert with_header.status_code == 422  # reached the view: that account does not exist
    assert "No account uses nobody@example.com" in with_header.get_data(as_text=True)


def test_json_clients_get_the_csrf_token_from_the_api_root(csrf_client, make_user, make_tenant):
    user = make_user()
    tenant = make_tenant(members={user: "admin"})
    token = _token(csrf_client.get("/login").get_data(as_text=True))
    csrf_client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token})
    api = f"/api/t/{tenant.slug}"
    assert csrf_client.post(f"{api}/companies", json={"name": "Acme"}).status_code == 400
    header = {"X-CSRFToken": csrf_client.get(f"{api}/").get_json()["csrf_token"]}
    created = csrf_client.post(f"{api}/companies", json={"name": "Acme"}, headers=header)
    assert created.status_code == 201 and created.get_json()["name"] == "Acme"
