"""The signed-in browser: its server-side session, its remember cookie, and the gates before every view.

Flask-Login keeps only the server-side session's key in the cookie session (see `User.get_id`);
`load_session_user` resolves it on every request, so an ended session is refused wherever its
cookie was copied. A browser without a live session but with a remember cookie trades it for a new
session and a replacement cookie (`load_remembered_user`).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, jsonify, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from strata.accounts import sessions
from strata.accounts.models import User
from strata.core import bearer_token

REMEMBER_COOKIE = "strata_remember"
PENDING_2FA = "two_factor_pending"

# What an account may reach before its email is verified (or, where the policy asks, before it has two-factor on).
UNVERIFIED_ALLOWED = {
    "static", "healthz", "auth.login", "auth.logout", "auth.signup", "auth.verify_notice", "auth.verify_email",
    "auth.resend_verification", "auth.forgot_password", "auth.reset_password", "auth.password_strength",
    "auth.invitation", "auth.two_factor_challenge",
}
SETUP_ALLOWED = UNVERIFIED_ALLOWED | {"auth.account", "auth.two_factor_setup", "auth.two_factor_enable"}


def _client() -> tuple[str, str]:
    return request.headers.get("User-Agent", "")[:200], request.remote_addr or ""


def sign_in(user: User, remember: bool = False) -> None:
    """Open a new server-side session for `user` in this browser (and a remember token if asked)."""
    agent, address = _client()
    session.clear()  # nothing from before sign-in carries over into the new session
    user.session_key = sessions.start(user.id, agent, address)
    login_user(user, fresh=True)
    session.permanent = True
    if remember:
        g.remember_cookie = sessions.remember(user.id, current_app.config["REMEMBER_DAYS"], agent, address)


def sign_out() -> None:
    """End this browser's session and remember token."""
    if current_user.is_authenticated and current_user.session_key:
        sessions.end(current_user.session_key)
    if request.cookies.get(REMEMBER_COOKIE):
        sessions.forget(request.cookies[REMEMBER_COOKIE])
    logout_user()
    session.clear()
    g.remember_cookie = ""


def load_session_user(key: str) -> User | None:
    """Flask-Login's user loader: the user of the live session `key`, or None."""
    if bearer_token() is not None:
        return None  # a token request is authenticated by its token alone, never by the session
    config = current_app.config
    return sessions.resolve(key, timedelta(seconds=config["SESSION_IDLE_TIMEOUT"]),
                            timedelta(seconds=config["SESSION_ABSOLUTE_TIMEOUT"]))


def load_remembered_user() -> User | None:
    """Trade this browser's remember cookie for a new session and a replacement cookie; None when refused."""
    plain = request.cookies.get(REMEMBER_COOKIE)
    if not plain or request.path.startswith("/static/"):
        return None
    agent, address = _client()
    redeemed = sessions.redeem(plain, agent, address)
    if redeemed is None:
        g.remember_cookie = ""
        return None
    user, replacement = redeemed
    user.session_key = sessions.start(user.id, agent, address)
    login_user(user, fresh=False)
    session.permanent = True
    g.remember_cookie = replacement
    return user


def write_remember_cookie(response):
    """After each request: set or clear the remember cookie when this request changed it."""
    value = g.pop("remember_cookie", None)
    if value is None:
        return response
    config = current_app.config
    if value:
        response.set_cookie(REMEMBER_COOKIE, value, max_age=config["REMEMBER_DAYS"] * 86400, httponly=True,
                            secure=config.get("SESSION_COOKIE_SECURE", False), samesite="Lax")
    else:
        response.delete_cookie(REMEMBER_COOKIE, httponly=True, secure=config.get("SESSION_COOKIE_SECURE", False),
                               samesite="Lax")
    return response


def forget_cached_user() -> None:
    """Before each request: resolve the user afresh, even where requests share an app context (tests)."""
    g.pop("_login_user", None)


def _refuse(endpoint: str, message: str):
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=message), 403
    return redirect(url_for(endpoint))


def gate():
    """Before each view: an unverified account may only verify; a platform admin may be made to set up 2FA."""
    endpoint = request.endpoint or ""
    if endpoint in UNVERIFIED_ALLOWED or not current_user.is_authenticated:
        return None
    if not current_user.is_verified:
        return _refuse("auth.verify_notice", "verify your email address first")
    if (endpoint not in SETUP_ALLOWED and current_app.config["REQUIRE_2FA_FOR_PLATFORM_ADMINS"]
            and current_user.is_platform_admin
            and not current_user.has_two_factor):
        return _refuse("auth.two_factor_setup", "platform admins must turn on two-factor sign-in first")
    return None
