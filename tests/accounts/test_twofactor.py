"""Two-factor sign-in: TOTP codes from an authenticator app, recovery codes, and the platform-admin policy."""

import re

import pyotp
from sqlalchemy import select

from strata.accounts.models import User
from strata.db import db
from tests.conftest import TEST_PASSWORD


def _secret(page: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)


def _enable(client) -> tuple[str, list[str]]:
    secret = _secret(client.get("/account/two-factor").get_data(as_text=True))
    assert client.post("/account/two-factor", data={"code": "000000"}).status_code == 422
    assert _secret(client.get("/account/two-factor").get_data(as_text=True)) == secret  # the same key until on
    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _password_step(client, user):
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login/two-factor"


def test_sign_in_with_a_code_after_turning_two_factor_on(app, client, login, make_user):
    user = login()
    secret, _ = _enable(client)
    client.post("/logout")

    _password_step(client, user)
    assert client.get("/").status_code == 302  # the password alone signs nobody in
    assert client.post("/login/two-factor", data={"code": "123456"}).status_code == 401
    # The code of this time step was used to turn it on: it cannot be replayed.
    assert client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()}).status_code == 401
    db.session.execute(db.text("UPDATE public.users SET totp_last_counter = totp_last_counter - 2"))
    db.session.commit()
    assert client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert client.get("/").status_code == 200


def test_a_recovery_code_works_once(app, client, login):
    user = login()
    _, codes = _enable(client)
    client.post("/logout")
    _password_step(client, user)
    assert client.post("/login/two-factor", data={"code": codes[0].upper()}).status_code == 302
    assert "9 recovery codes left" in client.get("/account").get_data(as_text=True)
    client.post("/logout")
    _password_step(client, user)
    assert client.post("/login/two-factor", data={"code": codes[0]}).status_code == 401
    assert client.post("/login/two-factor", data={"code": codes[1]}).status_code == 302


def test_the_code_step_expires_and_cannot_be_skipped(app, client, login, monkeypatch):
    from blueprints.auth import views

    user = login()
    secret, _ = _enable(client)
    client.post("/logout")
    assert client.get("/login/two-factor").status_code == 302  # nothing pending in this browser
    _password_step(client, user)
    monkeypatch.setattr(views, "TWO_FACTOR_WINDOW", -1)
    db.session.execute(db.text("UPDATE public.users SET totp_last_counter = totp_last_counter - 2"))
    db.session.commit()
    late = client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert late.status_code == 302 and late.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_turning_two_factor_off_needs_the_password(client, login):
    login()
    _enable(client)
    assert client.post("/account/two-factor/disable", data={"password": "wrong"}).status_code == 422
    assert client.post("/account/two-factor/disable", data={"password": TEST_PASSWORD}).status_code == 302
    assert db.session.scalar(select(User.totp_enabled_at)) is None


def test_platform_admins_can_be_required_to_use_two_factor(make_app, make_user, mailbox):
    app = make_app(REQUIRE_2FA_FOR_PLATFORM_ADMINS=True, MAIL_URL=mailbox.url)
    admin, member = make_user(admin=True), make_user(admin=False)
    client = app.test_client()
    client.post("/login", data={"email": admin.email, "password": TEST_PASSWORD})
    refused = client.get("/admin/tenants")
    assert refused.status_code == 302 and refused.headers["Location"] == "/account/two-factor"
    _enable(client)
    assert client.get("/admin/tenants").status_code == 200
    assert client.post("/account/two-factor/disable", data={"password": TEST_PASSWORD}).status_code == 422
    people = app.test_client()
    people.post("/login", data={"email": member.email, "password": TEST_PASSWORD})
    assert people.get("/").status_code == 200  # optional for everyone else
