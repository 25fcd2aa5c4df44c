"""Outgoing mail: Flask-Mailman over SMTP (`MAIL_URL`), and an Outbox of what was sent.

`MAIL_URL` is `smtp://[user:password@]host[:port]` (`?starttls` to upgrade the connection) or
`smtps://…` (TLS from the start). Without it mail is not delivered anywhere; with `MAIL_OUTBOX`
on (development) every message is also kept in Redis, newest first, for the platform admin's
Outbox page.
"""

from __future__ import annotations

import json
import smtplib
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask, current_app
from flask_mailman import EmailMessage, Mail

mail = Mail()

OUTBOX_KEY = "strata:outbox"
OUTBOX_SIZE = 100


def smtp_settings(url: str) -> dict:
    """Return Flask-Mailman's settings for the SMTP server `url`. Raises ValueError for another scheme."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"MAIL_URL must start with smtp:// or smtps://, got {parts.scheme}://")
    query = parse_qs(parts.query, keep_blank_values=True)
    ssl = parts.scheme == "smtps"
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": parts.hostname or "localhost",
        "MAIL_PORT": parts.port or (465 if ssl else 25),
        "MAIL_USERNAME": unquote(parts.username) if parts.username else None,
        "MAIL_PASSWORD": unquote(parts.password) if parts.password else None,
        "MAIL_USE_SSL": ssl,
        "MAIL_USE_TLS": "starttls" in query,
        "MAIL_TIMEOUT": 10,
    }


def init_app(app: Flask) -> None:
    """Configure the mail backend from `MAIL_URL` (none: mail goes only to the Outbox)."""
    url = app.config.get("MAIL_URL")
    app.config.update(smtp_settings(url) if url else {"MAIL_BACKEND": "dummy"})
    mail.init_app(app)


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message to `to`; return False (and log) when the server refused it."""
    message = EmailMessage(subject=subject, body=body, to=[to])
    delivered = True
    try:
        message.send()
    except (OSError, smtplib.SMTPException):
        current_app.logger.exception("mail to %s could not be sent", to)
        delivered = False
    if current_app.config.get("MAIL_OUTBOX"):
        from strata.core import queues

        record = {"to": to, "subject": subject, "body": body, "sent_at": datetime.now(UTC).isoformat(),
                  "delivered": delivered}
        queues.connection.pipeline().lpush(OUTBOX_KEY, json.dumps(record)).ltrim(OUTBOX_KEY, 0, OUTBOX_SIZE - 1) \
            .execute()
    return delivered


def outbox() -> list[dict]:
    """Return the messages kept in the Outbox, newest first."""
    from strata.core import queues

    return [json.loads(item) for item in queues.connection.lrange(OUTBOX_KEY, 0, OUTBOX_SIZE - 1)]
