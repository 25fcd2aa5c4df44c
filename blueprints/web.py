"""App-wide web wiring: the signed-in user, error pages and JSON errors, scope teardown."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask, abort, flash, g, jsonify, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from blueprints import TENANT_NAV, sign_in_first
from blueprints.auth.signin import load_remembered_user, load_session_user
from strata import limits
from strata.accounts.service import tenants_of
from strata.accounts.tokens import user_for_token
from strata.core import bearer_token, login_manager
from strata.db import clear_scope, db, ping
from strata.errors import Forbidden, NotFound, ValidationError


class _MyTenants(Sequence):
    """The signed-in user's (slug, name, role) per tenant, read by the view layer on first use: templates
    get data, never a database function, and a partial that shows no tenant switcher costs no query."""

    def __init__(self) -> None:
        self._rows: list | None = None

    def _load(self) -> list:
        if self._rows is None:
            self._rows = list(tenants_of(current_user.id)) if current_user.is_authenticated else []
        return self._rows

    def __getitem__(self, index):
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())


_MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in.",
    403: "You do not have permission to do that.",
    404: "There is nothing here.",
    405: "That action is not allowed here.",
    413: "That upload is too large.",
    422: "Some input was not valid.",
    429: "Too many attempts; please wait and try again.",
    500: "Something went wrong on our side. It has been logged.",
}


# Scripts only from our own files (htmx runs with allowEval off); styles may be inline (Chart.js, GraphiQL and
# htmx set element styles). rq-dashboard's pages, for platform admins only, carry their own inline script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
DASHBOARD_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


class _OutOfRange(int):
    """A path id beyond its column's type: the request is answered 404 before any view runs."""


class IdConverter(IntegerConverter):
    """`<int:…>`: a path id for an `integer` column; a larger number is a 404, not a database error."""

    limit = 2**31 - 1

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return _OutOfRange(number) if number > self.limit else number


class BigIdConverter(IdConverter):
    """`<bigint:…>`: a path id for a `bigint` column."""

    limit = 2**63 - 1


def guard_input() -> None:
    """Before every view: refuse, with a 413 or a 422 naming the field, input beyond `strata.limits`.

    The JSON body is parsed here once (views read the cached result) and walked without
    recursion: too deep, too wide, a number beyond a bigint or not finite, or text the database
    cannot store (a NUL character, a lone surrogate). Query and form fields are checked for text,
    and paging parameters for range.
    """
    fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
    for name, value in fields:
        bad = limits.problem(name, 0, name) or limits.problem(name, 0, value)
        if bad is not None:
            label = name if limits.problem(name, 0, name) is None else "a field name"
            raise ValidationError.single(label, bad.rule, bad.message.replace(name, label, 1))
    limits.check_paging(request.args)
    if request.is_json and request.content_length:
        if request.content_length > limits.MAX_JSON_BYTES:
            abort(413, f"A JSON body may be at most {limits.MAX_JSON_BYTES // 1024} kB.")
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            message = f"body nests deeper than {limits.MAX_DEPTH} levels."
            raise ValidationError.single("body", "depth", message) from None
        limits.check(body)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _error(status: int, message: str | None = None, errors: list[dict] | None = None):
    message = message or _MESSAGES.get(status, "Error")
    if _wants_json():
        body = {"error": message}
        if errors is not None:
            body["errors"] = errors
        return jsonify(body), status
    template = "errors/_error.html" if request.htmx else "errors/error.html"
    return render_template(template, status=status, message=message), status


def init_app(app: Flask) -> None:
    # Before any blueprint adds its rules: path ids are bounded by their column's type.
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["bigint"] = BigIdConverter

    @app.url_value_preprocessor
    def _ids_in_range(endpoint: str | None, values: dict | None) -> None:
        if values and any(isinstance(value, _OutOfRange) for value in values.values()):
            abort(404)
    app.before_request(guard_input)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def _load(session_key: str):
        return load_session_user(session_key)  # None for token requests and ended or timed-out sessions

    @login_manager.request_loader
    def _load_from_token(req):
        token = bearer_token()
        return user_for_token(token) if token is not None else load_remembered_user()

    @login_manager.unauthorized_handler
    def _unauthorized():
        if _wants_json():
            return jsonify(error="authentication required"), 401
        flash(login_manager.login_message, "info")
        return sign_in_first()

    @app.teardown_request
    def _leave_tenant(exc):
        if g.pop("scope_token", None) is not None:
            # End the tenant's transaction with the request (uncommitted work is discarded, as
            # it would be anyway), so nothing that shares this app context inherits its role.
            db.session.rollback()
            clear_scope()

    @app.after_request
    def _security_headers(response):
        """Every answer: a Content-Security-Policy without inline script, no framing, no sniffing, a short referrer."""
        policy = DASHBOARD_CSP if request.path.startswith("/admin/rq/") else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response

    @app.after_request
    def _flash_out_of_band(response):
        """htmx swaps only a fragment: send pending flash messages along as an out-of-band swap."""
        if (request.htmx and response.mimetype == "text/html" and not response.direct_passthrough
                and "_flashes" in session and "HX-Redirect" not in response.headers):
            flashes = render_template("_flash.html")
            response.set_data(response.get_data() + f'<div id="flash" hx-swap-oob="true">{flashes}</div>'.encode())
        return response

    @app.context_processor
    def _navigation():
        return {"my_tenants": _MyTenants(), "access": g.get("access"), "tenant_nav_items": TENANT_NAV}

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        if request.htmx and not current_user.is_authenticated and not _wants_json():
            # The session ended (and its token with it) while the page stayed open: sign in again, then come back.
            flash(login_manager.login_message, "info")
            return sign_in_first()
        return _error(400, f"Security token missing or invalid ({exc.description}). Reload the page and try again.")

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        return _error(422, str(exc), [e.as_dict() for e in exc.errors])

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return _error(404)

    @app.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden):
        return _error(403, str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        description = exc.description if exc.code in (403, 422, 429) else None
        return _error(exc.code or 500, description)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return _error(500)

    @app.get("/healthz")
    def healthz():
        """Return 200 when the database and Redis answer."""
        from strata.core import queues

        ping()
        queues.connection.ping()
        return {"status": "ok"}
