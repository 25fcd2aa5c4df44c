"""JSON API root for a tenant: who you are there and who else is."""

from __future__ import annotations

from dataclasses import asdict

from flask import g
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from blueprints import tenant_blueprint
from strata.accounts import service as accounts

bp = tenant_blueprint("api", __name__, api=True)


@bp.get("/")
def root():
    """Return the tenant, the caller's role in it and the CSRF token that writes (X-CSRFToken header) must carry."""
    a = g.access
    return {
        "tenant": {"id": a.tenant_id, "slug": a.slug, "name": a.name, "timezone": a.timezone},
        "user": {"id": current_user.id, "email": current_user.email, "role": a.role},
        "csrf_token": generate_csrf(),
    }


@bp.get("/members")
def members():
    """Return the tenant's members."""
    return {"members": [asdict(m) for m in accounts.list_members(g.access.tenant_id)]}
