"""Views: parse the request, call `strata`, render a page or a partial.

`tenant_blueprint` makes a blueprint whose routes live under `/t/<slug>` (pages) or
`/api/t/<slug>` (JSON). Before each of its requests the signed-in user's membership is
resolved; an unknown tenant or a non-member gets 404, and the request then runs in the
tenant's scope (role and search_path on every transaction).
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from strata.accounts.service import access_for
from strata.db import Scope, db, enter_scope

# The tenant navigation, in sections: (section, [(endpoint, label, url values), …]); features add theirs here.
TENANT_NAV: list[tuple[str, list[tuple[str, str, dict]]]] = [
    ("Data", [
        ("tenancy.dashboard", "Dashboard", {}),
        ("objects.index", "Companies", {"collection": "companies"}),
        ("objects.index", "Partners", {"collection": "partners"}),
        ("objects.index", "Products", {"collection": "products"}),
        ("thing_classes.index", "Things", {}),
    ]),
    ("Build", [
        ("bo_admin.fields", "Fields", {}),
        ("extensions.index", "Extensions", {}),
        ("reports.index", "Reports", {}),
    ]),
    ("Integrations", [
        ("streams.index", "Streams", {}),
    ]),
    ("Admin", [
        ("tenancy.members", "Members", {}),
    ]),
]


def _pop_slug(endpoint: str | None, values: dict | None) -> None:
    if values is not None:
        g.tenant_slug = values.pop("slug", None)


def _add_slug(endpoint: str, values: dict) -> None:
    access = g.get("access")
    if access is not None:
        values.setdefault("slug", access.slug)


def sign_in_first():
    """Send a signed-out visitor to the sign-in page and back to where they were. An htmx request is answered
    401 with `HX-Redirect`, so the whole page goes to sign-in (and returns to the page the user was on,
    from `HX-Current-URL`) instead of the sign-in form being swapped into a part of the page."""
    if request.htmx:
        here = urlsplit(request.headers.get("HX-Current-URL", ""))
        target = here.path + (f"?{here.query}" if here.query else "") if here.path else request.full_path
        return "", 401, {"HX-Redirect": url_for("auth.login", next=target)}
    return redirect(url_for("auth.login", next=request.full_path))


def _enter_tenant(api: bool):
    def enter():
        if not current_user.is_authenticated:
            if api:
                return jsonify(error="authentication required"), 401
            return sign_in_first()
        access = access_for(g.tenant_slug, current_user.id)
        if access is None:
            abort(404)
        g.access = access
        scope = Scope(access.tenant_id, access.slug, access.schema, access.db_role,
                      enforced=current_app.config["TENANT_SCOPING"])
        g.scope_token = enter_scope(scope)

    return enter


def tenant_blueprint(name: str, import_name: str, *, api: bool = False, url_prefix: str = "") -> Blueprint:
    """Return a blueprint whose every route runs as the member's tenant (404 for non-members)."""
    prefix = ("/api/t/<slug>" if api else "/t/<slug>") + url_prefix
    bp = Blueprint(name, import_name, url_prefix=prefix)
    bp.url_value_preprocessor(_pop_slug)
    bp.url_defaults(_add_slug)
    bp.before_request(_enter_tenant(api))
    return bp


def commits(view):
    """Decorate a view that changes data: commit once it returns, since the request is the unit of work
    (a refusal raises before, and the request's teardown rolls everything back)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        response = view(*args, **kwargs)
        db.session.commit()
        return response

    return wrapped


def role_required(role: str):
    """Decorate a tenant view so only members with at least `role` reach it (403 otherwise)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.access.allows(role):
                abort(403, description=f"This needs the {role} role in {g.access.name}.")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def page_or_partial(page: str, partial: str, status: int = 200, **context):
    """Render the partial for htmx requests and the full page otherwise, with `Vary: HX-Request`."""
    body = render_template(partial if request.htmx else page, **context)
    return body, status, {"Vary": "HX-Request"}
