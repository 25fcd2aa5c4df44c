"""The account pages: password, sessions and remember tokens, two-factor, API tokens; the Outbox."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from blueprints.auth import signin
from blueprints.auth.views import bp
from strata import mail
from strata.accounts import service, sessions, twofactor
from strata.accounts import tokens as api_tokens
from strata.errors import NotFound, ValidationError


def _account_page(status: int = 200, errors: dict | None = None):
    return render_template(
        "auth/account.html", errors=errors or {},
        sessions=sessions.live_sessions(current_user.id), remember_tokens=sessions.remember_tokens(current_user.id),
        codes_left=twofactor.codes_left(current_user.id) if current_user.has_two_factor else 0,
    ), status


@bp.get("/account")
@login_required
def account():
    """Show the account: password change, two-factor, signed-in sessions and remembered browsers."""
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password():
    """Change the password (the current one is required); every other session is signed out. 422 on refusal."""
    if not service.check_password(current_user.id, request.form.get("current_password", "")):
        return _account_page(422, {"current_password": ["The current password is not right."]})
    try:
        service.set_password(current_user.id, request.form.get("password", ""),
                             hash_method=current_app.config["PASSWORD_HASH_METHOD"])
    except ValidationError as exc:
        return _account_page(422, exc.by_field())
    ended = sessions.end_all(current_user.id, keep=current_user.session_key)
    flash(f"Password changed; {ended} other session{'s' if ended != 1 else ''} signed out.", "success")
    return redirect(url_for(".account"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End every session of this account, here and in every other browser, and forget remembered browsers."""
    sessions.end_all(current_user.id)
    signin.sign_out()
    flash("You are signed out everywhere.", "info")
    return redirect(url_for(".login"))


@bp.post("/account/remember/<int:token_id>/revoke")
@login_required
def revoke_remember(token_id: int):
    """Forget one remembered browser (404 for anyone else's)."""
    try:
        sessions.revoke_remember(current_user.id, token_id)
    except NotFound:
        abort(404)
    flash("That browser is no longer remembered.", "info")
    return redirect(url_for(".account"))


@bp.get("/account/two-factor")
@login_required
def two_factor_setup():
    """Show two-factor status, or a fresh secret to add to an authenticator app."""
    if current_user.has_two_factor:
        return redirect(url_for(".account"))
    secret, uri = twofactor.start_setup(current_user.id)
    return render_template("auth/two_factor_setup.html", secret=secret, uri=uri, errors={})


@bp.post("/account/two-factor")
@login_required
def two_factor_enable():
    """Turn two-factor on with a code from the app; show the recovery codes once (422 on a wrong code)."""
    try:
        codes = twofactor.enable(current_user.id, request.form.get("code", ""))
    except ValidationError as exc:
        secret, uri = twofactor.start_setup(current_user.id)
        return render_template("auth/two_factor_setup.html", secret=secret, uri=uri, errors=exc.by_field()), 422
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.post("/account/two-factor/codes")
@login_required
def two_factor_codes():
    """Replace the recovery codes (password required); show the new ones once."""
    if not current_user.has_two_factor or not service.check_password(current_user.id,
                                                                     request.form.get("password", "")):
        return _account_page(422, {"two_factor": ["The password is not right."]})
    return render_template("auth/recovery_codes.html", codes=twofactor.regenerate_codes(current_user.id))


@bp.post("/account/two-factor/disable")
@login_required
def two_factor_disable():
    """Turn two-factor off (password required; refused where the policy requires it)."""
    if current_app.config["REQUIRE_2FA_FOR_PLATFORM_ADMINS"] and current_user.is_platform_admin:
        return _account_page(422, {"two_factor": ["Platform admins must keep two-factor sign-in on."]})
    if not service.check_password(current_user.id, request.form.get("password", "")):
        return _account_page(422, {"two_factor": ["The password is not right."]})
    twofactor.disable(current_user.id)
    flash("Two-factor sign-in is off.", "info")
    return redirect(url_for(".account"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """List the user's API tokens; on POST create one and show it once (422 with the form on bad input)."""
    created, errors, status = None, {}, 200
    if request.method == "POST":
        try:
            created = api_tokens.create_token(current_user.id, request.form.get("name", ""))
        except ValidationError as exc:
            errors, status = exc.by_field(), 422
    return render_template("auth/tokens.html", tokens=api_tokens.list_tokens(current_user.id), created=created,
                           errors=errors, name=request.form.get("name", "") if errors else ""), status


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens and return to the list (404 for anyone else's)."""
    try:
        token = api_tokens.revoke_token(current_user.id, token_id)
    except NotFound:
        abort(404)
    flash(f"Token {token.name!r} is revoked; requests with it are refused from now on.", "info")
    return redirect(url_for(".tokens"))


@bp.get("/admin/outbox")
@login_required
def outbox():
    """Show the mail sent lately (development); platform admins only, 404 for anyone else."""
    if not current_user.is_platform_admin:
        abort(404)
    return render_template("auth/outbox.html", messages=mail.outbox(),
                           enabled=current_app.config.get("MAIL_OUTBOX"))
