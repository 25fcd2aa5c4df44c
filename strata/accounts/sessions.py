"""Server-side sign-in sessions and "keep me signed in" tokens.

The session cookie carries only a random key; the database keeps its SHA-256 digest, so ending
the row (sign-out, sign out everywhere, a password change, a timeout) ends the session wherever
the cookie was copied. A remember token is random per sign-in, kept as a digest, replaced on every
use (the old value is remembered for one purpose: a replaced token shown again means two holders,
and the token is revoked) and revocable from the account page.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from strata.accounts.models import RememberToken, User, UserSession
from strata.db import db, public_scope
from strata.errors import NotFound

TOUCH_EVERY = timedelta(minutes=1)
# Two requests of one page load may both carry the remember cookie the first one replaced.
REPLACED_GRACE = timedelta(seconds=30)


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def start(user_id: int, user_agent: str = "", address: str = "") -> str:
    """Open a session for the user and return its key (for the cookie; only its digest is stored)."""
    key = secrets.token_urlsafe(32)
    with public_scope():
        db.session.add(UserSession(user_id=user_id, key_hash=_digest(key), user_agent=(user_agent or "")[:200],
                                   address=(address or "")[:64]))
        db.session.commit()
    return key


def resolve(key: str, idle: timedelta, absolute: timedelta) -> User | None:
    """Return the active user of the live session `key`, or None (unknown, ended or timed out)."""
    if not key or len(key) > 100:
        return None
    with public_scope():
        row = db.session.execute(
            select(User, UserSession.id, UserSession.created_at, UserSession.last_seen_at)
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.key_hash == _digest(key), UserSession.ended_at.is_(None), User.is_active)).first()
    if row is None:
        return None
    user, session_id, created_at, last_seen = row
    now = _now()
    if now - created_at > absolute or now - last_seen > idle:
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == session_id).values(ended_at=now))
        return None
    if now - last_seen > TOUCH_EVERY:
        # Its own short transaction, at most once a minute: most requests write nothing.
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now))
    user.session_key = key
    return user


def end(key: str) -> None:
    """End the session `key` (sign-out)."""
    with public_scope():
        db.session.execute(update(UserSession).where(UserSession.key_hash == _digest(key or ""),
                                                     UserSession.ended_at.is_(None)).values(ended_at=_now()))
        db.session.commit()


def end_all(user_id: int, keep: str | None = None) -> int:
    """End every session of the user but `keep` and revoke all their remember tokens; return sessions ended."""
    now = _now()
    with public_scope():
        condition = [UserSession.user_id == user_id, UserSession.ended_at.is_(None)]
        if keep:
            condition.append(UserSession.key_hash != _digest(keep))
        ended = db.session.execute(update(UserSession).where(*condition).values(ended_at=now)).rowcount
        db.session.execute(update(RememberToken).where(RememberToken.user_id == user_id,
                                                       RememberToken.revoked_at.is_(None)).values(revoked_at=now))
        db.session.commit()
    return ended


def live_sessions(user_id: int) -> list[UserSession]:
    """Return the user's open sessions, most recently seen first."""
    with public_scope():
        return list(db.session.scalars(select(UserSession).where(
            UserSession.user_id == user_id, UserSession.ended_at.is_(None)).order_by(UserSession.last_seen_at.desc())))


def remember(user_id: int, days: int, user_agent: str = "", address: str = "") -> str:
    """Issue a remember token for the user; return its plain value (for the cookie)."""
    plain = secrets.token_urlsafe(32)
    with public_scope():
        db.session.add(RememberToken(user_id=user_id, token_hash=_digest(plain),
                                     expires_at=_now() + timedelta(days=days),
                                     user_agent=(user_agent or "")[:200], address=(address or "")[:64]))
        db.session.commit()
    return plain


def redeem(plain: str, user_agent: str = "", address: str = "") -> tuple[User, str] | None:
    """Trade a live remember token for its user and a replacement token, or return None.

    A token that was already replaced is refused; shown again after a short grace it revokes the
    token it was replaced by, since someone else holds one of the two copies.
    """
    if not plain or len(plain) > 100:
        return None
    digest, now = _digest(plain), _now()
    with public_scope():
        token = db.session.scalar(select(RememberToken).where(RememberToken.token_hash == digest).with_for_update())
        if token is None:
            replaced = db.session.scalar(select(RememberToken).where(
                RememberToken.previous_hash == digest, RememberToken.revoked_at.is_(None)).with_for_update())
            if replaced is not None and now - (replaced.last_used_at or now) > REPLACED_GRACE:
                replaced.revoked_at = now
            db.session.commit()
            return None
        user = db.session.get(User, token.user_id)
        if token.revoked_at is not None or token.expires_at <= now or user is None or not user.is_active:
            db.session.rollback()
            return None
        fresh = secrets.token_urlsafe(32)
        token.previous_hash, token.token_hash, token.last_used_at = digest, _digest(fresh), now
        token.user_agent, token.address = (user_agent or "")[:200], (address or "")[:64]
        db.session.commit()
    return user, fresh


def forget(plain: str) -> None:
    """Revoke the remember token `plain` (this browser's, at sign-out)."""
    with public_scope():
        db.session.execute(update(RememberToken).where(RememberToken.token_hash == _digest(plain or ""),
                                                       RememberToken.revoked_at.is_(None)).values(revoked_at=_now()))
        db.session.commit()


def remember_tokens(user_id: int) -> list[RememberToken]:
    """Return the user's live remember tokens, most recently used first."""
    with public_scope():
        return list(db.session.scalars(select(RememberToken).where(
            RememberToken.user_id == user_id, RememberToken.revoked_at.is_(None), RememberToken.expires_at > _now())
            .order_by(RememberToken.last_used_at.desc().nulls_last(), RememberToken.created_at.desc())))


def revoke_remember(user_id: int, token_id: int) -> None:
    """Revoke one of the user's remember tokens; NotFound for anyone else's."""
    with public_scope():
        token = db.session.get(RememberToken, token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"no remember token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = _now()
        db.session.commit()
