"""rq-dashboard, mounted at /admin/rq for platform admins only.

Its actions (requeue, delete, empty, compact) are POSTs that need the CSRF token like every other
form (the blueprint is not exempt); the dashboard's own script sends it (templates/rq_dashboard/inline_js.html). Its
"requeue all" route also answers GET upstream; here a GET is refused, so no link or image on
another site can change anything.
"""

from __future__ import annotations

import rq_dashboard
from flask import Flask, abort, request
from flask_login import current_user
from rq_dashboard.web import setup_rq_connection


def _platform_admins_only():
    """Before the dashboard's own hooks: only platform admins, only its one Redis, and no change on GET."""
    if request.blueprint != "rq_dashboard":
        return
    if not (current_user.is_authenticated and current_user.is_platform_admin):
        abort(404)
    if (request.view_args or {}).get("instance_number", 0) != 0:
        abort(404)
    if request.endpoint == "rq_dashboard.requeue_all" and request.method != "POST":
        abort(405)


def init_app(app: Flask) -> None:
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.before_request(_platform_admins_only)  # app hooks run before the blueprint's (which opens Redis)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/admin/rq")
    setup_rq_connection(app)
