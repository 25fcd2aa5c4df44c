"""Demo data for `make run`: tenant `acme` and a demo user who is its admin."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from strata.accounts.models import Membership, User
from strata.accounts.service import create_user
from strata.db import db
from strata.tenancy.models import Tenant
from strata.tenancy.service import create_tenant

DEMO_EMAIL = "demo@acme.test"
DEMO_SLUG = "acme"


def ensure_demo(instance_path: str) -> tuple[str, str]:
    """Create the demo user and tenant when missing; return the demo login (email, password)."""
    secret = Path(instance_path) / "demo-login.txt"
    user = db.session.scalar(select(User).where(User.email == DEMO_EMAIL))
    if user is None or not secret.exists():
        password = secrets.token_urlsafe(9)
        if user is None:
            user = create_user(DEMO_EMAIL, password, "Demo User",
                               hash_method=current_app.config["PASSWORD_HASH_METHOD"])
        else:
            from werkzeug.security import generate_password_hash

            user.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
            db.session.commit()
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        secret.write_text(password)
        secret.chmod(0o600)
    password = secret.read_text().strip()
    user_id = user.id
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    if tenant is None:
        create_tenant(DEMO_SLUG, "Acme Ltd", owner_id=user_id)
    elif db.session.scalar(select(Membership.id).where(Membership.tenant_id == tenant.id,
                                                      Membership.user_id == user_id)) is None:
        db.session.add(Membership(user_id=user_id, tenant_id=tenant.id, role="admin"))
        db.session.commit()
    from strata.streams.service import ensure_demo_stream

    ensure_demo_stream(DEMO_SLUG)
    return DEMO_EMAIL, password
