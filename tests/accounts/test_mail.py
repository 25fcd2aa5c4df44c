"""Outgoing mail: SMTP settings from MAIL_URL, the Outbox-only fallback, and the platform admin's Outbox page."""

import pytest

from strata import mail
from tests.conftest import TEST_PASSWORD


def test_mail_url_becomes_smtp_settings():
    assert mail.smtp_settings("smtp://mailer:p%40ss@mail.example.com:2525?starttls") == {
        "MAIL_BACKEND": "smtp", "MAIL_SERVER": "mail.example.com", "MAIL_PORT": 2525, "MAIL_USERNAME": "mailer",
        "MAIL_PASSWORD": "p@ss", "MAIL_USE_SSL": False, "MAIL_USE_TLS": True, "MAIL_TIMEOUT": 10}
    assert mail.smtp_settings("smtps://mail.example.com")["MAIL_PORT"] == 465
    with pytest.raises(ValueError, match="smtp://"):
        mail.smtp_settings("http://mail.example.com")


def test_without_mail_url_mail_is_kept_only_in_the_outbox(make_app, make_user, mailbox):
    app = make_app(MAIL_URL=None)
    with app.app_context():
        admin = make_user(admin=True)
        client = app.test_client()
        client.post("/password/forgot", data={"email": admin.email})
        assert mailbox.messages == []
        [kept] = mail.outbox()
        assert kept["to"] == admin.email and "/password/reset/" in kept["body"]
        client.post("/login", data={"email": admin.email, "password": TEST_PASSWORD})
        page = client.get("/admin/outbox")
        assert page.status_code == 200 and "Reset your Strata password" in page.get_data(as_text=True)


def test_the_outbox_is_for_platform_admins_only(client, login, make_user):
    login(make_user(admin=False))
    assert client.get("/admin/outbox").status_code == 404


def test_a_refusing_smtp_server_does_not_break_the_request(make_app, make_user, app):
    broken = make_app(MAIL_URL="smtp://127.0.0.1:9")  # nothing listens on the discard port
    user = make_user()
    response = broken.test_client().post("/password/forgot", data={"email": user.email})
    assert response.status_code == 200
    assert mail.outbox()[0]["delivered"] is False
