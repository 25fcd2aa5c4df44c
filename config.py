"""Settings read from the environment, in one place.

`load_settings()` returns a plain mapping for `app.config`. Tests build the mapping
themselves and hand it to `create_app(config)`, so nothing here starts a server for them.
With `DATABASE_URL` / `REDIS_URL` unset (development), an embedded PostgreSQL and Redis
are started under the instance folder; in production (`STRATA_ENV=production`) every
one of `SECRET_KEY`, `DATABASE_URL` and `REDIS_URL` is required and a missing one is a
loud error.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def normalise_database_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver named, whatever scheme was given."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigError(f"DATABASE_URL must be a PostgreSQL URL (postgresql://…), got {url.split(':', 1)[0]}://…")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _secret_key(env: dict[str, str], instance: Path, production: bool) -> str:
    key = env.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("SECRET_KEY is required when STRATA_ENV=production")
    # Development: a random key kept in the instance folder, so sessions survive restarts.
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _outbound_allow(env: dict[str, str]) -> str:
    """OUTBOUND_ALLOW, checked: comma-separated host names or address ranges, each optionally with :port or :*."""
    from strata.outbound import parse_allow

    value = env.get("OUTBOUND_ALLOW", "")
    try:
        parse_allow(value)
    except ValueError as exc:
        raise ConfigError(f"OUTBOUND_ALLOW must be hosts or address ranges with an optional :port or :*, "
                          f"separated by commas ({exc})") from None
    return value


def _duration(env: dict[str, str], name: str, default: str) -> str:
    """A PostgreSQL duration setting (`250ms`, `3s`, `5min`, `1h`, or whole milliseconds), checked."""
    raw = (env.get(name) or default).strip()
    if not re.fullmatch(r"[1-9][0-9]{0,8}(ms|s|min|h)?", raw):
        raise ConfigError(f"{name} must be a positive duration such as 250ms, 3s, 5min or 1h, got {raw!r}")
    return raw


def load_settings(instance_path: str | os.PathLike, env: dict[str, str] | None = None) -> dict:
    """Return the app settings from `env` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    instance = Path(instance_path)
    production = env.get("STRATA_ENV", "development") == "production"

    database_url = env.get("DATABASE_URL")
    redis_url = env.get("REDIS_URL")
    if production:
        missing = [n for n, v in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)) if not v]
        if missing:
            raise ConfigError(f"{', '.join(missing)} required when STRATA_ENV=production")
    if not database_url:
        from strata.runtime import embedded_postgres

        database_url = embedded_postgres(instance)
    if not redis_url:
        from strata.runtime import embedded_redis

        redis_url = embedded_redis(instance)

    return {
        "STRATA_ENV": "production" if production else "development",
        "SECRET_KEY": _secret_key(env, instance, production),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_size": _int(env, "DB_POOL_SIZE", 10),
            "max_overflow": _int(env, "DB_MAX_OVERFLOW", 10),
            "pool_pre_ping": True,
        },
        "REDIS_URL": redis_url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "scrypt"),
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_FAILURE_WINDOW": _int(env, "LOGIN_FAILURE_WINDOW", 15 * 60),
        "TENANT_SCOPING": env.get("TENANT_SCOPING", "on") != "off",
        "SIGNUP_OPEN": env.get("SIGNUP_OPEN", "on") != "off",
        "EXTENSIONS_LOCK_TIMEOUT": _duration(env, "EXTENSIONS_LOCK_TIMEOUT", "3s"),
        "EXTENSIONS_STATEMENT_TIMEOUT": _duration(env, "EXTENSIONS_STATEMENT_TIMEOUT", "5min"),
        "OUTBOUND_ALLOW": _outbound_allow(env),
        # Streams: the read deadline is about twice the API's ~30 s heartbeat (a silent link is replaced
        # after it); the consumer lock is the liveness heartbeat (a dead consumer shows within its TTL).
        "STREAMS_READ_DEADLINE": _int(env, "STREAMS_READ_DEADLINE", 65),
        "STREAMS_LOCK_TTL": _int(env, "STREAMS_LOCK_TTL", 15),
        "STREAMS_PER_WORKER": _int(env, "STREAMS_PER_WORKER", 500),
        # Tenant roles are server-wide: each database sharing a server needs its own prefix.
        "DB_ROLE_PREFIX": env.get("DB_ROLE_PREFIX") or None,
        **_account_settings(env, production),
    }


def _account_settings(env: dict[str, str], production: bool) -> dict:
    """Mail, session lifetimes, sign-in delays and the two-factor policy."""
    return {
        "MAIL_URL": env.get("MAIL_URL") or None,
        "MAIL_DEFAULT_SENDER": env.get("MAIL_FROM", "Strata <no-reply@strata.invalid>"),
        "MAIL_OUTBOX": env.get("MAIL_OUTBOX", "off" if production else "on") != "off",
        "PUBLIC_URL": env.get("PUBLIC_URL") or None,
        "SESSION_IDLE_TIMEOUT": _int(env, "SESSION_IDLE_TIMEOUT", 8 * 3600),
        "SESSION_ABSOLUTE_TIMEOUT": _int(env, "SESSION_ABSOLUTE_TIMEOUT", 7 * 24 * 3600),
        "REMEMBER_DAYS": _int(env, "REMEMBER_DAYS", 30),
        "LOGIN_MAX_DELAY": _int(env, "LOGIN_MAX_DELAY", 15 * 60),
        "LOGIN_ACCOUNT_MAX_DELAY": _int(env, "LOGIN_ACCOUNT_MAX_DELAY", 5),
        "REQUIRE_2FA_FOR_PLATFORM_ADMINS": env.get("REQUIRE_2FA_FOR_PLATFORM_ADMINS", "off") == "on",
    }


DEFAULTS: dict = {
    "MAX_CONTENT_LENGTH": 11 * 1024 * 1024,  # CSV imports are capped at 10 MB; the rest is form overhead
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_HEADERS": ["X-CSRFToken"],
    "PASSWORD_HASH_METHOD": "scrypt",
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_FAILURE_WINDOW": 15 * 60,
    "TENANT_SCOPING": True,
    "SIGNUP_OPEN": True,
    "EXTENSIONS_LOCK_TIMEOUT": "3s",  # lock_timeout of each extension migration's transaction
    "EXTENSIONS_STATEMENT_TIMEOUT": "5min",  # statement_timeout of each statement of a migration step
    "OUTBOUND_ALLOW": "",  # hosts or address ranges (with :port or :*) user-given URLs may reach; see strata.outbound
    "STREAMS_READ_DEADLINE": 65,
    "STREAMS_LOCK_TTL": 15,
    "STREAMS_PER_WORKER": 500,
    "STRATA_ENV": "development",
    # Accounts (see _account_settings): mail goes only to the Outbox unless MAIL_URL names an SMTP server.
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "MAIL_URL": None,
    "MAIL_DEFAULT_SENDER": "Strata <no-reply@strata.invalid>",
    "MAIL_OUTBOX": True,
    "PUBLIC_URL": None,
    "SESSION_IDLE_TIMEOUT": 8 * 3600,
    "SESSION_ABSOLUTE_TIMEOUT": 7 * 24 * 3600,
    "REMEMBER_DAYS": 30,
    "LOGIN_MAX_DELAY": 15 * 60,
    "LOGIN_ACCOUNT_MAX_DELAY": 5,
    "REQUIRE_2FA_FOR_PLATFORM_ADMINS": False,
}
