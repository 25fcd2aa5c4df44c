"""Flask extensions, created unbound here and bound in `create_app`."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from rq import Queue

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
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
