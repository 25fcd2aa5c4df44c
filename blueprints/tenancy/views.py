"""The home page, a tenant's dashboard and its members page (members join by invitation)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from blueprints.auth.views import link, send_template
from strata.accounts import invitations
from strata.accounts import service as accounts
from strata.accounts.models import ROLES
from strata.errors import NotFound, ValidationError
from strata.tenancy import dashboard

home_bp = Blueprint("home", __name__)
bp = tenant_blueprint("tenancy", __name__)


@home_bp.get("/")
@login_required
def index():
    """Redirect to the user's only tenant, or list their tenants."""
    tenants = accounts.tenants_of(current_user.id)
    if len(tenants) == 1:
        return redirect(url_for("tenancy.dashboard", slug=tenants[0][0]))
    return render_template("tenancy/index.html", tenants=tenants)


@home_bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links: send them to the icon (no 404 in any log)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/", endpoint="dashboard")
def dashboard_view():
    """Render the tenant dashboard: what the tenant holds and its recent activity."""
    return render_template("tenancy/dashboard.html", summary=dashboard.summary(g.access.role))


def _members_page(status: int = 200, errors: dict | None = None, form: dict | None = None):
    admin = g.access.allows("admin")
    return page_or_partial(
        "tenancy/members.html",
        "tenancy/_members.html",
        status,
        members=accounts.list_members(g.access.tenant_id),
        invitations=invitations.pending(g.access.tenant_id) if admin else [],
        now=datetime.now(UTC),
        roles=ROLES,
        errors=errors or {},
        form=form or {},
    )


def _after_change():
    return _members_page() if request.htmx else redirect(url_for(".members"))


def _mail_invitation(invitation, token: str) -> None:
    send_template(invitation.email, f"You are invited to {g.access.name} on Strata", "invitation",
                  inviter=current_user.display_name, tenant=g.access.name, role=invitation.role,
                  url=link("auth.invitation", token=token))


@bp.get("/members")
def members():
    """List the tenant's members (admins also get the forms to change them and the pending invitations)."""
    return _members_page()


@bp.post("/members")
@role_required("admin")
def invite_member():
    """Invite an email with a role and mail the link; 422 with the form's errors when refused."""
    form = {"email": request.form.get("email", ""), "role": request.form.get("role", "viewer")}
    try:
        invitation, token = invitations.invite(g.access.tenant_id, form["email"], form["role"], current_user.id)
    except ValidationError as exc:
        return _members_page(422, exc.by_field(), form)
    _mail_invitation(invitation, token)
    flash(f"Invitation sent to {invitation.email}; they join as {invitation.role} once they accept.", "success")
    return _after_change()


@bp.post("/invitations/<int:invitation_id>/resend")
@role_required("admin")
def resend_invitation(invitation_id: int):
    """Mail a pending invitation again with a new link (the old one stops working); 404 if not pending."""
    try:
        invitation, token = invitations.resend(g.access.tenant_id, invitation_id)
    except NotFound:
        abort(404)
    _mail_invitation(invitation, token)
    flash(f"Invitation sent to {invitation.email} again.", "success")
    return _after_change()


@bp.post("/invitations/<int:invitation_id>/revoke")
@role_required("admin")
def revoke_invitation(invitation_id: int):
    """Withdraw a pending invitation (its link stops working); 404 if not pending."""
    try:
        invitation = invitations.revoke(g.access.tenant_id, invitation_id, current_user.id)
    except NotFound:
        abort(404)
    flash(f"Invitation of {invitation.email} withdrawn.", "info")
    return _after_change()


@bp.post("/members/<int:membership_id>/role")
@role_required("admin")
def change_role(membership_id: int):
    """Change a member's role; 422 when it would leave no admin."""
    try:
        accounts.change_role(g.access.tenant_id, membership_id, request.form.get("role", ""), current_user.id)
    except ValidationError as exc:
        return _members_page(422, exc.by_field())
    flash("Role changed.", "success")
    return _after_change()


@bp.post("/members/<int:membership_id>/delete")
@role_required("admin")
def remove_member(membership_id: int):
    """Remove a member; 422 when it is the last admin."""
    try:
        accounts.remove_member(g.access.tenant_id, membership_id, current_user.id)
    except ValidationError as exc:
        return _members_page(422, exc.by_field())
    if accounts.access_for(g.access.slug, current_user.id) is None:
        flash("You left the tenant.", "info")
        home = url_for("home.index")
        return make_response("", redirect=home) if request.htmx else redirect(home)
    flash("Member removed.", "success")
    return _after_change()
