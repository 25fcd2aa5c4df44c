"""Account tests send their mail to a real local SMTP server."""

import pytest

from tests.mailserver import MailServer


@pytest.fixture(scope="session")
def mail_server():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(mail_server):
    mail_server.clear()
    return mail_server


@pytest.fixture
def app(make_app, mailbox):
    """The test app, with its mail going to the local SMTP server."""
    app = make_app(MAIL_URL=mailbox.url)
    with app.app_context():
        yield app
