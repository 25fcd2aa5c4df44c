"""Sign-up, sign-in and tenant membership rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import undefer
from werkzeug.security import check_password_hash, generate_password_hash

from strata import audit
from strata.accounts.models import ROLE_RANK, ROLES, Membership, User
from strata.db import current_scope, db, public_scope
from strata.errors import Forbidden, NotFound, ValidationError
from strata.tenancy.models import Tenant

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_email(email: str) -> str:
    email = normalise_email(email)
    if not email:
        raise ValidationError.single("email", "required", "Email is required.")
    if len(email) > 254 or not EMAIL.match(email):
        raise ValidationError.single("email", "format", "Email must look like name@example.com.")
    return email


def create_user(email: str, password: str, name: str = "", *, hash_method: str = "scrypt") -> User:
    """Create a user; the very first user becomes platform admin. Raises ValidationError."""
    email = _check_email(email)
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError.single(
            "password", "min_length", f"Password must be at least {MIN_PASSWORD} characters."
        )
    with public_scope():
        if db.session.scalar(select(User.id).where(User.email == email)) is not None:
            raise ValidationError.single("email", "unique", "An account with this email already exists.")
        # Serialise sign-ups so exactly one first user becomes admin.
        db.session.connection().exec_driver_sql("LOCK TABLE public.users IN SHARE ROW EXCLUSIVE MODE")
        first = db.session.scalar(select(func.count(User.id))) == 0
        user = User(
            email=email,
            name=(name or "").strip()[:200],
            password_hash=generate_password_hash(password, method=hash_method),
            is_platform_admin=first,
        )
        db.session.add(user)
        db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with this email and password, or None."""
    email = normalise_email(email)
    with public_scope():
        user = db.session.scalar(select(User).options(undefer(User.password_hash)).where(User.email == email))
        if user is None or not user.is_active or not check_password_hash(user.password_hash, password or ""):
            return None
        user.last_login_at = datetime.now(UTC)
        db.session.commit()
    return user


def load_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


@dataclass(frozen=True)
class TenantAccess:
    """A user's way into one tenant: plain values, safe to keep across transactions."""

    tenant_id: int
    slug: str
    name: str
    schema: str
    db_role: str
    timezone: str
    role: str

    def allows(self, needed: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


def access_for(slug: str, user_id: int) -> TenantAccess | None:
    """Return the user's access to the active tenant `slug`, or None when it is not theirs."""
    with public_scope():
        row = db.session.execute(
            select(Tenant, Membership.role)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Tenant.slug == slug, Tenant.status == "active", Membership.user_id == user_id)
        ).first()
    if row is None:
        return None
    tenant, role = row
    return TenantAccess(tenant.id, tenant.slug, tenant.name, tenant.schema_name, tenant.db_role, tenant.timezone, role)


def tenants_of(user_id: int) -> list[tuple[str, str, str]]:
    """Return (slug, name, role) of every active tenant the user belongs to, by name."""
    with public_scope():
        rows = db.session.execute(
            select(Tenant.slug, Tenant.name, Membership.role)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user_id, Tenant.status == "active")
            .order_by(Tenant.name)
        )
        return [tuple(r) for r in rows]


@dataclass(frozen=True)
class Member:
    membership_id: int
    user_id: int
    email: str
    name: str
    role: str


def list_members(tenant_id: int) -> list[Member]:
    """Return the tenant's members, by email."""
    with public_scope():
        rows = db.session.execute(
            select(Membership.id, User.id, User.email, User.name, Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == tenant_id)
            .order_by(User.email)
        )
        return [Member(*r) for r in rows]


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError.single("role", "choice", f"Role must be one of {', '.join(ROLES)}.")
    return role


def _membership(tenant_id: int, membership_id: int) -> Membership:
    membership = db.session.scalar(
        select(Membership).where(Membership.id == membership_id, Membership.tenant_id == tenant_id).with_for_update()
    )
    if membership is None:
        raise NotFound(f"no membership {membership_id} in this tenant")
    return membership


def _admins_left(tenant_id: int, excluding: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Membership).where(
            Membership.tenant_id == tenant_id, Membership.role == "admin", Membership.id != excluding
        )
    )


def _lock_memberships(tenant_id: int) -> None:
    # One membership change per tenant at a time, so two admins cannot demote each other at once.
    db.session.connection().exec_driver_sql("SELECT pg_advisory_xact_lock(7411, %(t)s)", {"t": tenant_id})


def _audit(tenant_id: int, membership_id: int, action: str, actor_id: int | None, changes: dict, summary: str):
    """Record a membership change in the tenant's audit log, in the same transaction, when running as it."""
    scope = current_scope()
    if scope is not None and scope.tenant_id == tenant_id:
        audit.record("membership", membership_id, action, actor_id, changes, summary)


def add_member(tenant_id: int, email: str, role: str, actor_id: int | None = None) -> Member:
    """Add the existing user with `email` to the tenant with `role`. Raises ValidationError."""
    email = _check_email(email)
    _check_role(role)
    with public_scope():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            raise ValidationError.single("email", "exists", f"No account uses {email}; ask them to sign up first.")
        taken = db.session.scalar(
            select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
        )
        if taken is not None:
            raise ValidationError.single("email", "unique", f"{email} is already a member.")
        membership = Membership(user_id=user.id, tenant_id=tenant_id, role=role)
        db.session.add(membership)
        db.session.flush()
        member = Member(membership.id, user.id, user.email, user.name, role)
    _audit(tenant_id, member.membership_id, "create", actor_id, {"email": [None, email], "role": [None, role]},
           f"{email} added as {role}")
    db.session.commit()
    return member


def change_role(tenant_id: int, membership_id: int, role: str, actor_id: int | None = None) -> None:
    """Set a member's role; the last admin cannot be demoted. Raises ValidationError, NotFound."""
    _check_role(role)
    with public_scope():
        _lock_memberships(tenant_id)
        membership = _membership(tenant_id, membership_id)
        if membership.role == "admin" and role != "admin" and _admins_left(tenant_id, membership.id) == 0:
            db.session.rollback()
            raise ValidationError.single(
                "role", "last_admin", "The last admin cannot be demoted; promote someone first.")
        old, email = membership.role, db.session.get(User, membership.user_id).email
        membership.role = role
        db.session.flush()
    if old != role:
        _audit(tenant_id, membership_id, "update", actor_id, {"role": [old, role]}, f"{email}: {old} → {role}")
    db.session.commit()


def remove_member(tenant_id: int, membership_id: int, actor_id: int | None = None) -> None:
    """Remove a member; the last admin cannot be removed. Raises ValidationError, NotFound."""
    with public_scope():
        _lock_memberships(tenant_id)
        membership = _membership(tenant_id, membership_id)
        if membership.role == "admin" and _admins_left(tenant_id, membership.id) == 0:
            db.session.rollback()
            raise ValidationError.single("member", "last_admin", "The last admin cannot be removed.")
        old, email = membership.role, db.session.get(User, membership.user_id).email
        db.session.delete(membership)
        db.session.flush()
    _audit(tenant_id, membership_id, "delete", actor_id, {"email": [email, None], "role": [old, None]},
           f"{email} removed")
    db.session.commit()


def require(access: TenantAccess, needed: str) -> None:
    """Raise Forbidden unless `access` carries at least the `needed` role."""
    if not access.allows(needed):
        raise Forbidden(f"this needs the {needed} role")
