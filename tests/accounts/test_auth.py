"""Sign-up with email verification, sign-in, password reset, and CSRF on forms and htmx calls."""

import re
import statistics
import time

import pytest
from sqlalchemy import select

from strata.accounts.models import User
from strata.db import db
from tests.conftest import TEST_PASSWORD

GOOD = "amber lantern quietly"


def _user(email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _sign_up(client, email, password=GOOD, **extra):
    return client.post("/signup", data={"email": email, "password": password, **extra})


def test_signup_sends_a_verification_link_and_the_account_can_only_verify_until_followed(client, mailbox):
    response = _sign_up(client, "Owner@Example.com", name="Owner")
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    owner = _user("owner@example.com")
    assert owner.email_verified_at is None and owner.is_platform_admin  # the first account
    assert client.post("/login", data={"email": "owner@example.com", "password": GOOD}).status_code == 302
    for path in ("/", "/admin/tenants", "/account/tokens", "/account"):
        refused = client.get(path)
        assert refused.status_code == 302 and refused.headers["Location"] == "/verify", path
    assert client.get("/api/t/anything/", headers={"Accept": "application/json"}).status_code == 403
    assert client.get("/verify").status_code == 200

    link = mailbox.link("owner@example.com", "/verify/")
    assert client.get(link).status_code == 302
    assert _user("owner@example.com").email_verified_at is not None
    assert client.get("/admin/tenants").status_code == 200


def test_verification_links_are_signed(client, mailbox):
    _sign_up(client, "person@example.com")
    link = mailbox.link("person@example.com", "/verify/")
    assert client.get(link[:-3] + "abc").status_code == 400
    assert client.get("/verify/not-a-token").status_code == 400
    assert _user("person@example.com").email_verified_at is None


def test_expired_verification_link_is_refused(client, mailbox, monkeypatch):
    from strata.accounts import links

    _sign_up(client, "person@example.com")
    link = mailbox.link("person@example.com", "/verify/")
    monkeypatch.setattr(links, "VERIFY_MAX_AGE", -1)
    assert client.get(link).status_code == 400
    assert _user("person@example.com").email_verified_at is None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "", "password": GOOD}, "email", "Email is required."),
        ({"email": "not-an-email", "password": GOOD}, "email", "Email must look like"),
        ({"email": "a@example.com", "password": "short one"}, "password", "at least 12 characters"),
        ({"email": "a@example.com", "password": "12345678901234"}, "password", "too easy to guess"),
        ({"email": "a@example.com", "password": "passwordpassword"}, "password", "too easy to guess"),
        ({"email": "jonathan.ive@example.com", "password": "jonathan.ive@example.com"}, "password", "email"),
        ({"email": "jonathan.ive@example.com", "password": "jonathan.ive-77"}, "password", "email"),
    ],
)
def test_signup_errors_are_inline_and_create_nothing(client, mailbox, form, field, message):
    response = client.post("/signup", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert f'id="e-{field}"' in response.get_data(as_text=True)
    assert db.session.scalar(select(User.id)) is None
    assert mailbox.messages == []


def test_signup_does_not_reveal_a_taken_email_but_tells_its_owner(client, make_user, mailbox):
    make_user("taken@example.com")
    fresh = _sign_up(client, "fresh@example.com")
    taken = _sign_up(client, "TAKEN@example.com")
    assert taken.status_code == fresh.status_code == 200
    assert taken.get_data(as_text=True).replace("taken@", "X@") == fresh.get_data(as_text=True).replace("fresh@", "X@")
    [notice] = mailbox.to("taken@example.com")
    assert "already has one" in mailbox.body(notice)
    assert db.session.scalar(select(User.password_hash).where(User.email == "taken@example.com")) != GOOD


def test_strength_meter_uses_the_same_rules(client):
    weak = client.post("/password/strength", data={"password": "password1234", "email": "a@example.com"})
    assert weak.status_code == 200 and 'data-score="1"' in weak.get_data(as_text=True)
    assert "too easy to guess" in weak.get_data(as_text=True)
    strong = client.post("/password/strength", data={"password": GOOD}).get_data(as_text=True)
    assert 'data-score="4"' in strong and "too easy" not in strong
    page = client.get("/signup").get_data(as_text=True)
    assert 'hx-post="/password/strength"' in page and "<script>" not in page


def test_signup_closed_is_403(make_app):
    client = make_app(SIGNUP_OPEN=False).test_client()
    assert client.get("/signup").status_code == 403
    assert client.post("/signup", data={"email": "a@example.com", "password": GOOD}).status_code == 403


def test_login_and_logout(client, make_user):
    user = make_user("person@example.com")
    response = client.post("/login", data={"email": "Person@Example.com", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert _user(user.email).last_login_at is not None
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("person@example.com")
    response = client.post("/login", data={"email": "person@example.com", "password": "wrong password"})
    assert response.status_code == 401
    assert "Email or password is wrong." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def _timed_login(client, email, password):
    started = time.perf_counter()
    response = client.post("/login", data={"email": email, "password": password})
    return time.perf_counter() - started, response


def test_known_and_unknown_emails_get_the_same_answer_in_the_same_time(make_app, mailbox):
    method = "pbkdf2:sha256:300000"  # slow enough that skipping the hash would show
    app = make_app(PASSWORD_HASH_METHOD=method, MAIL_URL=mailbox.url, LOGIN_MAX_FAILURES=100)
    with app.app_context():
        from strata.accounts.service import create_user

        create_user("known@example.com", TEST_PASSWORD, hash_method=method)
        client = app.test_client()
        known, unknown = [], []
        for i in range(6):
            seconds, k = _timed_login(client, "known@example.com", f"wrong password {i}")
            known.append(seconds)
            seconds, u = _timed_login(client, "unknown@example.com", f"wrong password {i}")
            unknown.append(seconds)
            assert k.status_code == u.status_code == 401
            assert k.get_data(as_text=True).replace("known@", "X@") == u.get_data(as_text=True).replace(
                "unknown@", "X@")
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)


def test_password_reset_by_email_works_once_and_ends_every_session(client, make_user, make_app, mailbox):
    make_user("person@example.com")
    other = make_app(MAIL_URL=mailbox.url).test_client()
    other.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD})
    assert other.get("/").status_code == 200

    known = client.post("/password/forgot", data={"email": "person@example.com"})
    unknown = client.post("/password/forgot", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace("person@", "X@") == unknown.get_data(as_text=True).replace(
        "nobody@", "X@")
    assert mailbox.to("nobody@example.com") == []
    link = mailbox.link("person@example.com", "/password/reset/")

    assert client.post(link, data={"password": "short"}).status_code == 422
    assert client.post(link, data={"password": GOOD}).status_code == 302
    assert client.post(link, data={"password": "another fine phrase"}).status_code == 400  # used up
    assert other.get("/").status_code == 302
    assert client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD}).status_code == 401
    assert client.post("/login", data={"email": "person@example.com", "password": GOOD}).status_code == 302


def test_open_redirect_is_refused(client, make_user):
    make_user("person@example.com")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = client.post("/login", data={"email": "person@example.com", "password": TEST_PASSWORD,
                                               "next": target})
        assert response.headers["Location"] == "/", target
        client.post("/logout")


@pytest.fixture
def csrf_client(app, make_app, mailbox):
    return make_app(WTF_CSRF_ENABLED=True, MAIL_URL=mailbox.url).test_client()


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_form_post_without_csrf_token_is_400_and_changes_nothing(csrf_client):
    response = csrf_client.post("/signup", data={"email": "a@example.com", "password": GOOD})
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
    without = csrf_client.post(f"/t/{tenant.slug}/members", data={"email": "a@example.com", "role": "viewer"},
                               headers={"HX-Request": "true"})
    assert without.status_code == 400
    with_header = csrf_client.post(f"/t/{tenant.slug}/members", data={"email": "not-an-email", "role": "viewer"},
                                   headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert with_header.status_code == 422  # reached the view
    assert "Email must look like" in with_header.get_data(as_text=True)


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


def test_our_forms_send_one_mail_a_minute_at_most_to_an_address(client, make_user, mailbox):
    make_user("person@example.com")
    for _ in range(3):
        assert client.post("/password/forgot", data={"email": "person@example.com"}).status_code == 200
        assert _sign_up(client, "person@example.com").status_code == 200
    assert len(mailbox.to("person@example.com")) == 2  # one reset link, one "already has an account"

    _sign_up(client, "new@example.com")
    client.post("/login", data={"email": "new@example.com", "password": GOOD})
    for _ in range(3):
        assert client.post("/verify/resend").status_code == 302
    assert len(mailbox.to("new@example.com")) == 2  # the sign-up's link and one resent
