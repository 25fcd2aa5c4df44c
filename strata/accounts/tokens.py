"""API tokens: named keys a user creates for scripts, sent as `Authorization: Bearer <token>`.

A token is shown once, when it is made; the database keeps its SHA-256 digest (a token is 256 random
bits, so a plain digest suffices) and its first characters, to tell tokens apart in the list.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from strata.accounts.models import ApiToken, User
from strata.db import db, public_scope
from strata.errors import NotFound, ValidationError

PREFIX = "strata_"
MAX_TOKENS = 50
TOUCH_EVERY = timedelta(minutes=1)
_TOUCH = text("UPDATE public.api_tokens SET last_used_at = now() WHERE id = :id "
              "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user_id: int, name: str) -> tuple[ApiToken, str]:
    """Create a token called `name` for the user; return it with its plain text (shown only now)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError.single("name", "required", "Name the token after what will use it.")
    if len(name) > 100:
        raise ValidationError.single("name", "max_length", "The name must be at most 100 characters.")
    with public_scope():
        live = db.session.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)))
        if live >= MAX_TOKENS:
            raise ValidationError.single("name", "limit", f"You have {MAX_TOKENS} tokens; revoke one first.")
        plain = PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(user_id=user_id, name=name, token_hash=_digest(plain), prefix=plain[:12])
        db.session.add(token)
        db.session.commit()
    return token, plain


def list_tokens(user_id: int) -> list[ApiToken]:
    """Return the user's tokens, live ones first, newest first."""
    with public_scope():
        return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                       .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())))


def revoke_token(user_id: int, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (NotFound for another user's); it stops working at once."""
    with public_scope():
        token = db.session.get(ApiToken, token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"no token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)
            db.session.commit()
    return token


def user_for_token(plain: str) -> User | None:
    """Return the active user a live token belongs to, or None; note its use (at most once a minute)."""
    if not plain.startswith(PREFIX) or len(plain) > 100:
        return None
    with public_scope():
        row = db.session.execute(
            select(User, ApiToken.id, ApiToken.last_used_at).join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == _digest(plain), ApiToken.revoked_at.is_(None), User.is_active)).first()
    if row is None:
        return None
    user, token_id, last_used = row
    if last_used is None or datetime.now(UTC) - last_used > TOUCH_EVERY:
        # Its own short transaction (the request's is rolled back at its end), and only once a minute:
        # most token requests write nothing.
        with db.engine.begin() as connection:
            connection.execute(_TOUCH, {"id": token_id})
    return user
