"""Signed, expiring tokens for the links we email: verify an address, reset a password.

A verification token names the user and the address it was sent to (a changed address voids it);
a reset token names the user and a fingerprint of the password hash, so it works once: the reset
changes the hash.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from strata.accounts.models import User
from strata.db import db, public_scope

VERIFY_MAX_AGE = 48 * 3600
RESET_MAX_AGE = 3600


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"strata-{purpose}")


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def verification_token(user: User) -> str:
    return _serializer("verify").dumps({"u": user.id, "e": user.email})


def read_verification(token: str) -> tuple[int, str] | None:
    """Return (user id, email) of a good, unexpired verification token, or None."""
    try:
        data = _serializer("verify").loads(token, max_age=VERIFY_MAX_AGE)
        return int(data["u"]), str(data["e"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def reset_token(user_id: int) -> str:
    with public_scope():
        stored = db.session.scalar(select(User.password_hash).where(User.id == user_id))
    return _serializer("reset").dumps({"u": user_id, "h": _fingerprint(stored or "")})


def read_reset(token: str) -> int | None:
    """Return the user id of a good, unexpired, unused reset token, or None."""
    try:
        data = _serializer("reset").loads(token, max_age=RESET_MAX_AGE)
        user_id, fingerprint = int(data["u"]), str(data["h"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    with public_scope():
        stored = db.session.scalar(select(User.password_hash).where(User.id == user_id, User.is_active))
    return user_id if stored is not None and _fingerprint(stored) == fingerprint else None
