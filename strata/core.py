"""Flask extensions, created unbound here and bound in `create_app`."""

from __future__ import annotations

import redis
from flask import Flask, current_app, request
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from rq import Queue


def bearer_token() -> str | None:
    """Return the API token of this request (`Authorization: Bearer …` or `Token …` on /api/), or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and token.strip() and request.path.startswith("/api/"):
        return token.strip()
    return None


class TokenAwareCSRF(CSRFProtect):
    """CSRF protection for every cookie-authenticated write. A request carrying an API token is authenticated
    by that token alone (the session is ignored, see blueprints/web.py), so a forged cross-site request,
    which cannot set that header, gains nothing: such requests need no CSRF token."""

    def protect(self, *args, **kwargs):
        if bearer_token() is None:
            super().protect(*args, **kwargs)


migrate = Migrate()
login_manager = LoginManager()
csrf = TokenAwareCSRF()
htmx = Htmx()

QUEUES = ("streams", "backfills", "default")


class RedisQueues:
    """The app's Redis connection and its RQ queues, one per kind of work."""

    def init_app(self, app: Flask) -> None:
        connection = redis.Redis.from_url(app.config["REDIS_URL"])
        app.extensions["strata_redis"] = connection

    @property
    def connection(self) -> redis.Redis:
        return current_app.extensions["strata_redis"]

    def queue(self, name: str = "default") -> Queue:
        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r}; one of {QUEUES}")
        return Queue(name, connection=self.connection)


queues = RedisQueues()
