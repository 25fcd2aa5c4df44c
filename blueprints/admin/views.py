"""Platform administration: tenants."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from htmx_flask import make_response

from blueprints import page_or_partial
from strata.errors import ValidationError
from strata.tenancy import service as tenancy

bp = Blueprint("admin", __name__, url_prefix="/admin")


def platform_admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_platform_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def _tenants_page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    return page_or_partial(
        "admin/tenants.html",
        "admin/_tenant_form.html" if errors else "admin/_tenants.html",
        status,
        tenants=tenancy.list_tenants(),
        counts=tenancy.member_counts(),
        errors=errors or {},
        form=form or {},
    )


@bp.get("/tenants")
@platform_admin_required
def tenants():
    """List every tenant with its member count, and the form to create one."""
    return _tenants_page()


@bp.post("/tenants")
@platform_admin_required
def create_tenant():
    """Provision a tenant with the current user as its admin; 422 with the form's errors when refused."""
    form = {"slug": request.form.get("slug", ""), "name": request.form.get("name", "")}
    try:
        tenant = tenancy.create_tenant(form["slug"], form["name"], owner_id=current_user.id)
    except ValidationError as exc:
        return _tenants_page(422, exc.by_field(), form)
    flash(f"Tenant {tenant.name} created; you are its admin.", "success")
    target = url_for("tenancy.dashboard", slug=tenant.slug)
    return make_response("", redirect=target) if request.htmx else redirect(target)
