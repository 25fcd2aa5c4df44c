"""Sign-up, sign-in, sign-out and the user's API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from strata.accounts import service
from strata.accounts import tokens as api_tokens
from strata.accounts.ratelimit import LoginThrottle
from strata.core import queues
from strata.errors import NotFound, ValidationError

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else the home page."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("home.index")


def _throttle() -> LoginThrottle:
    return LoginThrottle(
        queues.connection, current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_FAILURE_WINDOW"]
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; on POST sign in and redirect, or re-render with an error (401/429)."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("auth/login.html", email="", next=request.args.get("next", ""))
    email = service.normalise_email(request.form.get("email", ""))
    password = request.form.get("password", "")
    next_url = request.form.get("next", "")
    throttle = _throttle()
    address = request.remote_addr or "unknown"
    wait = throttle.retry_after(email, address)
    if wait:
        minutes = max(1, round(wait / 60))
        error = f"Too many failed sign-ins. Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        return render_template("auth/login.html", email=email, next=next_url, error=error), 429
    user = service.authenticate(email, password)
    if user is None:
        throttle.failed(email, address)
        error = "Email or password is wrong."
        return render_template("auth/login.html", email=email, next=next_url, error=error), 401
    throttle.succeeded(email, address)
    login_user(user, remember=bool(request.form.get("remember")))
    return redirect(_safe_next(next_url))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Show the sign-up form; on POST create the account and sign in, or re-render with errors (422)."""
    if not current_app.config["SIGNUP_OPEN"]:
        return render_template("auth/signup_closed.html"), 403
    if request.method == "GET":
        return render_template("auth/signup.html", form={}, errors={})
    form = {"email": request.form.get("email", ""), "name": request.form.get("name", "")}
    try:
        user = service.create_user(
            form["email"],
            request.form.get("password", ""),
            form["name"],
            hash_method=current_app.config["PASSWORD_HASH_METHOD"],
        )
    except ValidationError as exc:
        return render_template("auth/signup.html", form=form, errors=exc.by_field()), 422
    login_user(user)
    if user.is_platform_admin:
        flash("Welcome! As the first user you are the platform admin: create your first tenant.", "success")
        return redirect(url_for("admin.tenants"))
    flash("Welcome! Ask a tenant admin to add you to their tenant.", "success")
    return redirect(url_for("home.index"))


@bp.post("/logout")
@login_required
def logout():
    """Sign out and return to the sign-in page."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


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
    return redirect(url_for("auth.tokens"))
