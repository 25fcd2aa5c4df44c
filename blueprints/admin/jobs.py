"""rq-dashboard, mounted at /admin/rq for platform admins only."""

from __future__ import annotations

import rq_dashboard
from flask import Flask, abort
from flask_login import current_user
from rq_dashboard.web import setup_rq_connection

from strata.core import csrf


@rq_dashboard.blueprint.before_request
def _platform_admins_only():
    if not (current_user.is_authenticated and current_user.is_platform_admin):
        abort(404)


# Its own pages post with fetch() and no token; the session cookie is SameSite=Lax, so a
# cross-site form cannot ride on an admin's session, and only admins reach these routes.
csrf.exempt(rq_dashboard.blueprint)


def init_app(app: Flask) -> None:
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/admin/rq")
    setup_rq_connection(app)
