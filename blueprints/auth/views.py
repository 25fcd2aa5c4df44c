"""Sign-up with email verification, sign-in (with two-factor), sign-out, password reset and invitations."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from blueprints.auth import signin
from strata import mail
from strata.accounts import invitations, links, passwords, service, sessions, twofactor
from strata.accounts.ratelimit import LoginThrottle
from strata.core import queues
from strata.errors import Forbidden, NotFound, ValidationError

bp = Blueprint("auth", __name__)
bp.before_app_request(signin.forget_cached_user)
bp.before_app_request(signin.gate)
bp.after_app_request(signin.write_remember_cookie)

TWO_FACTOR_WINDOW = 300  # seconds between the password and the code


def _safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else the home page."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target:
        return target
    return url_for("home.index")


def link(endpoint: str, **values) -> str:
    """An absolute link for an email: on `PUBLIC_URL` when set (never on a Host header an attacker chose)."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def send_template(to: str, subject: str, template: str, **context) -> bool:
    """Send the plain-text mail `templates/auth/mail/<template>.txt` to `to`."""
    return mail.send(to, subject, render_template(f"auth/mail/{template}.txt", **context))


def _first_in_a_while(kind: str, email: str, seconds: int = 60) -> bool:
    """True at most once per `seconds` for this kind of mail to this address (no mail-bombing through our forms)."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    return bool(queues.connection.set(f"strata:mail-sent:{kind}:{digest}", 1, nx=True, ex=seconds))


def _throttle() -> LoginThrottle:
    config = current_app.config
    return LoginThrottle(queues.connection, config["LOGIN_MAX_FAILURES"], config["LOGIN_FAILURE_WINDOW"],
                         config["LOGIN_MAX_DELAY"], config["LOGIN_ACCOUNT_MAX_DELAY"])


def _too_many(wait: int) -> str:
    unit = f"{wait} second{'s' if wait != 1 else ''}" if wait < 90 else f"about {round(wait / 60)} minutes"
    return f"Too many failed sign-ins. Try again in {unit}."


def _login_page(status: int, email: str = "", next_url: str = "", error: str | None = None, retry: int = 0):
    response = current_app.make_response((render_template("auth/login.html", email=email, next=next_url,
                                                          error=error), status))
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; on POST sign in (or ask for the second factor), else 401/429 with the form."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        return _login_page(200, next_url=request.args.get("next", ""))
    email = service.normalise_email(request.form.get("email", ""))[:254]
    next_url = request.form.get("next", "")
    throttle, address = _throttle(), request.remote_addr or "unknown"
    wait = throttle.retry_after(email, address)
    if wait:
        return _login_page(429, email, next_url, _too_many(wait), wait)
    user = service.authenticate(email, request.form.get("password", ""),
                                hash_method=current_app.config["PASSWORD_HASH_METHOD"])
    if user is None:
        throttle.failed(email, address)
        return _login_page(401, email, next_url, "Email or password is wrong.")
    remember = bool(request.form.get("remember"))
    if user.has_two_factor:
        session.clear()
        session[signin.PENDING_2FA] = {"user": user.id, "at": time.time(), "remember": remember, "next": next_url}
        return redirect(url_for(".two_factor_challenge"))
    throttle.succeeded(email, address)
    signin.sign_in(user, remember)
    return redirect(_safe_next(next_url))


@bp.route("/login/two-factor", methods=["GET", "POST"])
def two_factor_challenge():
    """Ask for the authenticator code (or a recovery code) after the password; 401/429 on a wrong one."""
    pending = session.get(signin.PENDING_2FA)
    if not pending or time.time() - pending.get("at", 0) > TWO_FACTOR_WINDOW:
        session.pop(signin.PENDING_2FA, None)
        flash("Sign in again to continue.", "info")
        return redirect(url_for(".login"))
    if request.method == "GET":
        return render_template("auth/two_factor.html")
    user = service.load(pending["user"])
    throttle, address = _throttle(), request.remote_addr or "unknown"
    wait = throttle.retry_after(user.email, address) if user else 0
    if wait:
        return render_template("auth/two_factor.html", error=_too_many(wait)), 429
    if user is None or not twofactor.verify(user.id, request.form.get("code", "")):
        if user is not None:
            throttle.failed(user.email, address)
        return render_template("auth/two_factor.html", error="That code is not right."), 401
    throttle.succeeded(user.email, address)
    signin.sign_in(user, pending.get("remember", False))
    return redirect(_safe_next(pending.get("next")))


@bp.post("/logout")
@login_required
def logout():
    """End this session (wherever its cookie was copied) and return to the sign-in page."""
    signin.sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _send_verification(user) -> bool:
    return send_template(user.email, "Confirm your email address for Strata", "verify",
                         user=user, url=link("auth.verify_email", token=links.verification_token(user)))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Show the sign-up form; on POST create an unverified account and mail the link (422 on bad input).

    A taken email gets the same answer here; its owner gets a mail saying so instead.
    """
    invitation = invitations.offer(request.values.get("invitation", ""))
    invited = invitation is not None and invitation.state == "pending"
    if not current_app.config["SIGNUP_OPEN"] and not invited:
        return render_template("auth/signup_closed.html"), 403
    form = {"email": request.form.get("email", invitation.email if invited else ""),
            "name": request.form.get("name", ""), "invitation": request.values.get("invitation", "")}
    if request.method == "GET":
        return render_template("auth/signup.html", form=form, errors={})
    if not current_app.config["SIGNUP_OPEN"] and service.normalise_email(form["email"]) != invitation.email:
        errors = {"email": [f"Sign-up is by invitation: use the invited address, {invitation.email}."]}
        return render_template("auth/signup.html", form=form, errors=errors), 422
    try:
        user = service.register(form["email"], request.form.get("password", ""), form["name"],
                                hash_method=current_app.config["PASSWORD_HASH_METHOD"])
    except ValidationError as exc:
        return render_template("auth/signup.html", form=form, errors=exc.by_field()), 422
    email = service.normalise_email(form["email"])
    if user is None:
        if _first_in_a_while("signup-taken", email):
            send_template(email, "Someone tried to sign up with your address", "signup_taken",
                          login_url=link("auth.login"), reset_url=link("auth.forgot_password"))
    elif invited and email == invitation.email:
        # The invitation link was mailed to this address: following it proves the address.
        user = service.mark_verified(user.id, email)
        signin.sign_in(user)
        return redirect(url_for(".invitation", token=form["invitation"]))
    else:
        _send_verification(user)
    return render_template("auth/check_email.html", email=email)


@bp.get("/verify")
@login_required
def verify_notice():
    """Tell an unverified account to follow the emailed link (with a button to send it again)."""
    if current_user.is_verified:
        return redirect(url_for("home.index"))
    return render_template("auth/verify.html")


@bp.post("/verify/resend")
@login_required
def resend_verification():
    """Mail the verification link again."""
    if not current_user.is_verified and _first_in_a_while("verify", current_user.email):
        _send_verification(current_user)
    flash(f"A new link is on its way to {current_user.email} (one a minute at most).", "info")
    return redirect(url_for(".verify_notice"))


@bp.get("/verify/<token>")
def verify_email(token: str):
    """Verify the address a signed, unexpired link was sent to; 400 for a bad or expired link."""
    found = links.read_verification(token)
    user = service.mark_verified(*found) if found else None
    if user is None:
        return render_template("auth/link_invalid.html", what="verification"), 400
    flash("Your email address is verified.", "success")
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    return redirect(url_for(".login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for an email and mail it a reset link; the answer is the same whether an account uses it or not."""
    if request.method == "GET":
        return render_template("auth/forgot.html")
    email = service.normalise_email(request.form.get("email", ""))[:254]
    user = service.find_user(email) if email else None
    if user is not None and user.is_active and _first_in_a_while("reset", user.email):
        send_template(user.email, "Reset your Strata password", "reset",
                      url=link("auth.reset_password", token=links.reset_token(user.id)))
    return render_template("auth/check_email.html", email=email, reset=True)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password through an emailed link (once, within the hour); it signs out every session."""
    user_id = links.read_reset(token)
    if user_id is None:
        return render_template("auth/link_invalid.html", what="password reset"), 400
    if request.method == "GET":
        return render_template("auth/reset.html", token=token, errors={})
    try:
        service.set_password(user_id, request.form.get("password", ""),
                             hash_method=current_app.config["PASSWORD_HASH_METHOD"])
    except ValidationError as exc:
        return render_template("auth/reset.html", token=token, errors=exc.by_field()), 422
    sessions.end_all(user_id)
    signin.sign_out()
    flash("Your password is changed and every session signed out. Sign in with the new one.", "success")
    return redirect(url_for(".login"))


@bp.post("/password/strength")
def password_strength():
    """Return the strength meter partial for the password being typed (the same rules as on submit)."""
    who = current_user if current_user.is_authenticated else None
    verdict = passwords.strength(request.form.get("password", ""),
                                 email=who.email if who else request.form.get("email", ""),
                                 name=who.name if who else request.form.get("name", ""))
    return render_template("auth/_strength.html", verdict=verdict, typed=bool(request.form.get("password")))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """Show an invitation; on POST the signed-in, verified holder of its address accepts it (403 otherwise)."""
    offer = invitations.offer(token)
    if offer is None or offer.state != "pending":
        return render_template("auth/link_invalid.html", what="invitation", state=offer.state if offer else None), 404
    if request.method == "GET" or not current_user.is_authenticated:
        return render_template("auth/invitation.html", offer=offer, token=token,
                               taken=service.email_taken(offer.email))
    try:
        invitations.accept(token, current_user)
    except Forbidden as exc:
        return render_template("auth/invitation.html", offer=offer, token=token, error=str(exc),
                               taken=True), 403
    except NotFound:
        abort(404)
    flash(f"Welcome to {offer.tenant_name}: you are {offer.role} there.", "success")
    return redirect(url_for("tenancy.dashboard", slug=offer.slug))


from blueprints.auth import account  # noqa: E402,F401  (the account pages share this blueprint)
