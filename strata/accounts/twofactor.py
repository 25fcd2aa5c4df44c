"""Two-factor sign-in: TOTP (RFC 6238, via pyotp) with single-use recovery codes.

Setting up stores a fresh secret while `totp_enabled_at` is still empty; the first good code turns
it on and returns ten recovery codes, shown once and kept as SHA-256 digests. A code is accepted
once: the time step it belongs to is remembered, so a replayed code fails.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import undefer

from strata.accounts.models import User
from strata.db import db, public_scope
from strata.errors import NotFound, ValidationError

ISSUER = "Strata"
RECOVERY_CODES = 10


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join((code or "").split()).lower()


def _user(user_id: int) -> User:
    user = db.session.scalar(select(User).options(undefer(User.totp_secret), undefer(User.totp_last_counter),
                                                  undefer(User.recovery_code_hashes))
                             .where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def _new_codes(user: User) -> list[str]:
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    user.recovery_code_hashes = [_digest(c) for c in codes]
    return codes


def start_setup(user_id: int) -> tuple[str, str]:
    """Give the user a secret, not yet enabled; return it and its otpauth:// URI for the app."""
    with public_scope():
        user = _user(user_id)
        if user.totp_enabled_at is not None:
            raise ValidationError.single("code", "enabled", "Two-factor sign-in is already on.")
        if not user.totp_secret:  # a secret already shown (scanned, perhaps) stays until enabled
            user.totp_secret = pyotp.random_base32()
        db.session.commit()
        return user.totp_secret, pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _matching_counter(secret: str, code: str, after: int | None) -> int | None:
    """The time step (now ±1) whose code is `code` and that was not used before, or None."""
    totp, now = pyotp.TOTP(secret), int(datetime.now(UTC).timestamp())
    for offset in (0, -1, 1):
        counter = totp.timecode(datetime.fromtimestamp(now + offset * totp.interval, UTC))
        if (after is None or counter > after) and secrets.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def enable(user_id: int, code: str) -> list[str]:
    """Turn two-factor on if `code` matches the pending secret; return the recovery codes. Raises ValidationError."""
    with public_scope():
        user = _user(user_id)
        counter = _matching_counter(user.totp_secret or "", _normalise(code), None) if user.totp_secret else None
        if user.totp_enabled_at is not None or counter is None:
            db.session.rollback()
            raise ValidationError.single("code", "mismatch", "That code does not match; enter the current one.")
        user.totp_enabled_at, user.totp_last_counter = datetime.now(UTC), counter
        codes = _new_codes(user)
        db.session.commit()
    return codes


def disable(user_id: int) -> None:
    """Turn two-factor off and forget the secret and recovery codes."""
    with public_scope():
        user = _user(user_id)
        user.totp_secret = user.totp_enabled_at = user.totp_last_counter = None
        user.recovery_code_hashes = []
        db.session.commit()


def regenerate_codes(user_id: int) -> list[str]:
    """Replace the user's recovery codes; return the new ones."""
    with public_scope():
        codes = _new_codes(_user(user_id))
        db.session.commit()
    return codes


def verify(user_id: int, code: str) -> bool:
    """True when `code` is the user's current TOTP code (unused) or one of their recovery codes (used up now)."""
    code = _normalise(code)
    with public_scope():
        user = _user(user_id)
        if user.totp_enabled_at is None or not code:
            db.session.rollback()
            return False
        counter = _matching_counter(user.totp_secret, code, user.totp_last_counter) if code.isdigit() else None
        if counter is not None:
            user.totp_last_counter = counter
        elif _digest(code) in user.recovery_code_hashes:
            user.recovery_code_hashes = [h for h in user.recovery_code_hashes if h != _digest(code)]
        else:
            db.session.rollback()
            return False
        db.session.commit()
    return True


def codes_left(user_id: int) -> int:
    """Return how many recovery codes the user has left."""
    with public_scope():
        hashes = db.session.scalar(select(User.recovery_code_hashes).where(User.id == user_id))
    return len(hashes or [])
