"""Members by invitation: an admin offers a role to an email address; the membership exists only once
the holder of that address, signed in with it verified, accepts through the emailed link.

The link carries a random token; the database keeps its SHA-256 digest. Resending replaces the token
(the old link stops working) and restarts the expiry; revoking ends it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from strata import audit
from strata.accounts.models import Invitation, Membership, User
from strata.accounts.service import _audit, _check_email, _check_role, _lock_memberships
from strata.db import db, enter_scope, leave_scope, public_scope
from strata.errors import Forbidden, NotFound, ValidationError
from strata.tenancy.models import Tenant

VALID_FOR = timedelta(days=7)


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pending:
    """An invitation not yet accepted or revoked, as plain values (safe to read in any scope)."""

    id: int
    email: str
    role: str
    sent_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> Pending:
        return cls(invitation.id, invitation.email, invitation.role, invitation.sent_at, invitation.expires_at)


@dataclass(frozen=True)
class Offer:
    """What an invitation link offers, as plain values."""

    invitation_id: int
    tenant_id: int
    slug: str
    tenant_name: str
    email: str
    role: str
    state: str  # pending, expired, revoked or accepted


def _pending(tenant_id: int, invitation_id: int) -> Invitation:
    invitation = db.session.scalar(select(Invitation).where(
        Invitation.id == invitation_id, Invitation.tenant_id == tenant_id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None)).with_for_update())
    if invitation is None:
        raise NotFound(f"no pending invitation {invitation_id} in this tenant")
    return invitation


def invite(tenant_id: int, email: str, role: str, actor_id: int | None = None) -> tuple[Pending, str]:
    """Invite `email` to the tenant as `role`; return the invitation and its link token (to email now).

    Raises ValidationError for a bad email or role, an existing member or a pending invitation.
    """
    email, role = _check_email(email), _check_role(role)
    plain = secrets.token_urlsafe(32)
    with public_scope():
        member = db.session.scalar(select(Membership.id).join(User, User.id == Membership.user_id).where(
            Membership.tenant_id == tenant_id, User.email == email))
        if member is not None:
            raise ValidationError.single("email", "unique", f"{email} is already a member.")
        waiting = db.session.scalar(select(Invitation.id).where(
            Invitation.tenant_id == tenant_id, Invitation.email == email, Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None)))
        if waiting is not None:
            raise ValidationError.single("email", "pending", f"{email} is already invited; resend that invitation.")
        invitation = Invitation(tenant_id=tenant_id, email=email, role=role, token_hash=_digest(plain),
                                invited_by=actor_id, expires_at=_now() + VALID_FOR)
        db.session.add(invitation)
        db.session.flush()
        db.session.refresh(invitation)
        sent = Pending.of(invitation)
    _audit(tenant_id, sent.id, "create", actor_id, {"email": [None, email], "role": [None, role]},
           f"{email} invited as {role}")
    db.session.commit()
    return sent, plain


def resend(tenant_id: int, invitation_id: int) -> tuple[Pending, str]:
    """Give a pending invitation a new link token and expiry; return it with the token. Raises NotFound."""
    plain = secrets.token_urlsafe(32)
    with public_scope():
        invitation = _pending(tenant_id, invitation_id)
        invitation.token_hash, invitation.sent_at = _digest(plain), _now()
        invitation.expires_at = invitation.sent_at + VALID_FOR
        sent = Pending.of(invitation)
        db.session.commit()
    return sent, plain


def revoke(tenant_id: int, invitation_id: int, actor_id: int | None = None) -> Pending:
    """Revoke a pending invitation (its link stops working). Raises NotFound."""
    with public_scope():
        invitation = _pending(tenant_id, invitation_id)
        invitation.revoked_at = _now()
        db.session.flush()
        gone = Pending.of(invitation)
    _audit(tenant_id, gone.id, "delete", actor_id, {"email": [gone.email, None]}, f"invitation of {gone.email} revoked")
    db.session.commit()
    return gone


def pending(tenant_id: int) -> list[Pending]:
    """Return the tenant's invitations not yet accepted or revoked (expired ones too), by email."""
    with public_scope():
        return [Pending.of(i) for i in db.session.scalars(select(Invitation).where(
            Invitation.tenant_id == tenant_id, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
            .order_by(Invitation.email))]


def _state(invitation: Invitation) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= _now() else "pending"


def offer(plain: str) -> Offer | None:
    """Return what the invitation link token `plain` offers, or None for an unknown token."""
    if not plain or len(plain) > 100:
        return None
    with public_scope():
        row = db.session.execute(select(Invitation, Tenant).join(Tenant, Tenant.id == Invitation.tenant_id).where(
            Invitation.token_hash == _digest(plain), Tenant.status == "active")).first()
    if row is None:
        return None
    invitation, tenant = row
    return Offer(invitation.id, tenant.id, tenant.slug, tenant.name, invitation.email, invitation.role,
                 _state(invitation))


def accept(plain: str, user: User) -> Offer:
    """Make `user` a member as the invitation offers; return the offer.

    Raises NotFound for an unknown, expired, revoked or used link; Forbidden when the invitation was
    sent to another address or the user's address is not verified yet.
    """
    found = offer(plain)
    if found is None or found.state != "pending":
        raise NotFound("this invitation link is not valid any more")
    if user.email != found.email:
        raise Forbidden(f"This invitation was sent to {found.email}, but you are signed in as {user.email}. "
                        f"Sign in with {found.email} to accept it.")
    if user.email_verified_at is None:
        raise Forbidden("Verify your email address before accepting an invitation.")
    with public_scope():
        _lock_memberships(found.tenant_id)
        invitation = _pending(found.tenant_id, found.invitation_id)
        exists = db.session.scalar(select(Membership.id).where(
            Membership.tenant_id == found.tenant_id, Membership.user_id == user.id))
        if exists is None:
            db.session.add(Membership(user_id=user.id, tenant_id=found.tenant_id, role=invitation.role))
        invitation.accepted_at, invitation.accepted_by = _now(), user.id
        tenant = db.session.get(Tenant, found.tenant_id)
        scope = tenant.scope()
        db.session.flush()
    token = enter_scope(scope)
    try:
        audit.record("membership", found.invitation_id, "create", user.id, {"email": [None, found.email],
                     "role": [None, found.role]}, f"{found.email} accepted the invitation as {found.role}")
        db.session.commit()
    finally:
        leave_scope(token)
    return found
