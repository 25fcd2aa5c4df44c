"""A per-process cache of something built from a tenant's rows, shared by every process without restart.

Every app object holds its own entries (`app.extensions`), keyed by tenant id and tagged with the
tenant's version of that thing: a counter in Redis. Using the cache costs one Redis GET; a
different version means another process changed the rows, so the value is rebuilt from the
database. A change bumps the counter with INCR *after* its transaction commits (a session hook),
so no process can cache the old rows under the new version. Counters start at a random value, so
a Redis that lost its keys never hands back a version an old entry still carries. Without Redis
the value is built fresh each time.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Generic, TypeVar

import redis
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from strata.core import queues
from strata.db import current_scope, db

log = logging.getLogger(__name__)

T = TypeVar("T")

_caches: list[TenantCache] = []


class TenantCache(Generic[T]):
    """Cache `load()` (run in the tenant's scope) per tenant under the Redis key `strata:<name>:<tenant id>`."""

    def __init__(self, name: str, load: Callable[[], T], what: str):
        self.name, self.load, self.what = name, load, what
        self._pending = f"strata_cache_pending:{name}"
        self._store = f"strata_cache:{name}"
        _caches.append(self)

    def version_key(self, tenant_id: int) -> str:
        """Return the Redis key of a tenant's version counter."""
        return f"strata:{self.name}:{tenant_id}"

    def _tenant_id(self) -> int:
        scope = current_scope()
        if scope is None:
            raise RuntimeError(f"{self.what} need a tenant scope (tenant_context or a tenant request)")
        return scope.tenant_id

    def _read_version(self, tenant_id: int) -> bytes:
        connection = queues.connection
        version = connection.get(self.version_key(tenant_id))
        if version is None:
            pipe = connection.pipeline()
            pipe.set(self.version_key(tenant_id), secrets.randbits(48), nx=True)
            pipe.get(self.version_key(tenant_id))
            version = pipe.execute()[1]
        return version

    def current(self) -> T:
        """Return the current tenant's value, rebuilt only if some process changed it (one Redis GET)."""
        tenant_id = self._tenant_id()
        if tenant_id in db.session().info.get(self._pending, ()):
            return self.load()  # this transaction changed the rows and has not committed yet: read its own
        try:
            version = self._read_version(tenant_id)
        except redis.RedisError:
            log.warning("redis unavailable; reading %s without the cache", self.what, exc_info=True)
            return self.load()
        store: dict[int, tuple[bytes, T]] = current_app.extensions.setdefault(self._store, {})
        hit = store.get(tenant_id)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = self.load()
        store[tenant_id] = (version, value)
        return value

    def held(self, app, tenant_id: int) -> T | None:
        """Return the value `app` holds for the tenant right now (whatever its version), or None."""
        hit = app.extensions.get(self._store, {}).get(tenant_id)
        return None if hit is None else hit[1]

    def forget(self) -> None:
        """Drop this process's copy for the current tenant, so the next `current()` reads the database again."""
        current_app.extensions.get(self._store, {}).pop(self._tenant_id(), None)

    def changed(self) -> None:
        """Mark the current tenant's value as changed; every process rebuilds it once this transaction commits."""
        db.session().info.setdefault(self._pending, set()).add(self._tenant_id())

    def publish(self, session: Session) -> None:
        """Bump the version of every tenant this committed transaction changed."""
        tenants = session.info.pop(self._pending, None)
        if not tenants:
            return
        try:
            pipe = queues.connection.pipeline()
            for tenant_id in tenants:
                pipe.set(self.version_key(tenant_id), secrets.randbits(48), nx=True)
                pipe.incr(self.version_key(tenant_id))
            pipe.execute()
        except redis.RedisError:
            log.exception("could not publish a change of %s for tenants %s", self.what, sorted(tenants))


@event.listens_for(Session, "after_commit")
def _bump_versions(session: Session) -> None:
    for cache in _caches:
        cache.publish(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session: Session, previous_transaction) -> None:
    if not session.in_transaction():
        for cache in _caches:
            session.info.pop(cache._pending, None)
