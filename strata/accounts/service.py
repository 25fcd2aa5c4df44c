"""Sign-up, sign-in and tenant membership rules."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import column, func, select, table
from sqlalchemy.orm import undefer
from werkzeug.security import check_password_hash, generate_password_hash

from strata import audit
from strata.accounts import passwords
from strata.accounts.models import ROLE_RANK, ROLES, Membership, User
from strata.db import current_scope, db, public_scope
from strata.errors import Forbidden, NotFound, ValidationError
from strata.tenancy.models import Tenant

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_email(email: str) -> str:
    email = normalise_email(email)
    if not email:
        raise ValidationError.single("email", "required", "Email is required.")
    if len(email) > 254 or not EMAIL.match(email):
        raise ValidationError.single("email", "format", "Email must look like name@example.com.")
    return email


def _dummy_hash(method: str) -> str:
    """A hash of nothing in particular, checked for unknown emails so they take as long as known ones."""
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


_DUMMY_HASHES: dict[str, str] = {}


def email_taken(email: str) -> bool:
    """True when an account uses `email` (already normalised)."""
    with public_scope():
        return db.session.scalar(select(User.id).where(User.email == email)) is not None


def create_user(email: str, password: str, name: str = "", *, hash_method: str = "scrypt",
                verified: bool = True, platform_admin: bool | None = None) -> User:
    """Create a user (verified unless told otherwise); the very first user becomes platform admin.

    Raises ValidationError for a bad email, a taken email or a password that breaks the rules.
    """
    email = _check_email(email)
    name = (name or "").strip()[:200]
    passwords.check(password, email=email, name=name)
    with public_scope():
        if db.session.scalar(select(User.id).where(User.email == email)) is not None:
            raise ValidationError.single("email", "unique", "An account with this email already exists.")
        # Serialise sign-ups so exactly one first user becomes admin.
        db.session.connection().exec_driver_sql("LOCK TABLE public.users IN SHARE ROW EXCLUSIVE MODE")
        first = db.session.scalar(select(func.count(User.id))) == 0
        user = User(
            email=email,
            name=name,
            password_hash=generate_password_hash(password, method=hash_method),
            is_platform_admin=first if platform_admin is None else platform_admin,
            email_verified_at=datetime.now(UTC) if verified else None,
        )
        db.session.add(user)
        db.session.commit()
    return user


def register(email: str, password: str, name: str = "", *, hash_method: str = "scrypt") -> User | None:
    """Sign-up: create an unverified user, or return None when the email is taken (said to nobody but
    its owner, by mail). Both ways hash the password once. Raises ValidationError for bad input."""
    email = _check_email(email)
    passwords.check(password, email=email, name=name)
    if email_taken(email):
        check_password_hash(_dummy_hash(hash_method), password or "")
        return None
    try:
        return create_user(email, password, name, hash_method=hash_method, verified=False)
    except ValidationError as exc:
        if exc.errors[0].rule == "unique":  # taken between the check and the insert
            return None
        raise


def authenticate(email: str, password: str, *, hash_method: str = "scrypt") -> User | None:
    """Return the active user with this email and password, or None; unknown emails cost one hash too."""
    email = normalise_email(email)
    with public_scope():
        user = db.session.scalar(select(User).options(undefer(User.password_hash)).where(User.email == email))
        if user is None:
            check_password_hash(_dummy_hash(hash_method), password or "")
            return None
        if not check_password_hash(user.password_hash, password or "") or not user.is_active:
            return None
        user.last_login_at = datetime.now(UTC)
        db.session.commit()
    return user


def set_password(user_id: int, password: str, *, hash_method: str = "scrypt") -> None:
    """Replace the user's password (checked against the rules). Raises ValidationError, NotFound."""
    with public_scope():
        user = db.session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        passwords.check(password, email=user.email, name=user.name)
        user.password_hash = generate_password_hash(password, method=hash_method)
        db.session.commit()


def check_password(user_id: int, password: str) -> bool:
    """True when `password` is the user's current password."""
    with public_scope():
        stored = db.session.scalar(select(User.password_hash).where(User.id == user_id))
    return stored is not None and check_password_hash(stored, password or "")


def mark_verified(user_id: int, email: str) -> User | None:
    """Mark the user's email verified if it is still `email`; return the user, or None."""
    with public_scope():
        user = db.session.get(User, user_id)
        if user is None or user.email != email:
            return None
        if user.email_verified_at is None:
            user.email_verified_at = datetime.now(UTC)
            db.session.commit()
    return user


def find_user(email: str) -> User | None:
    """Return the user with `email`, or None."""
    with public_scope():
        return db.session.scalar(select(User).where(User.email == normalise_email(email)))


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
            raise ValidationError.single("email", "exists", f"No account uses {email}; invite them instead.")
        if user.email_verified_at is None:
            raise ValidationError.single("email", "unverified",
                                         f"{email} has not verified that address yet; invite them instead.")
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


def load(user_id: int) -> User | None:
    """Return the user with this id, or None."""
    with public_scope():
        return db.session.get(User, user_id)


# The members of the tenant whose role runs the query (a security-barrier view, migration 0003).
TENANT_MEMBERS = table("tenant_members", column("id"), column("name"), column("email"), column("role"), schema="public")


def member_names(user_ids: set[int]) -> dict[int, str]:
    """Return the display names of those of `user_ids` who are members of the current tenant (run as it)."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(TENANT_MEMBERS.c.id, TENANT_MEMBERS.c.name, TENANT_MEMBERS.c.email)
                              .where(TENANT_MEMBERS.c.id.in_(user_ids)))
    return {user_id: name or email for user_id, name, email in rows}
