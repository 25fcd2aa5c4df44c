"""Failed sign-in counting in Redis: too many failures for one account or address lock it out for a while."""

from __future__ import annotations

import hashlib

from redis import Redis


class LoginThrottle:
    """Counts failed sign-ins per email and per client address within a sliding window."""

    def __init__(self, redis: Redis, max_failures: int, window_seconds: int):
        self.redis = redis
        self.max_failures = max_failures
        self.window = window_seconds

    def _keys(self, email: str, address: str) -> list[str]:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        # An address gets more room than one account: several people may share it.
        return [f"strata:login-fail:email:{digest}", f"strata:login-fail:addr:{address}"]

    def retry_after(self, email: str, address: str) -> int:
        """Return seconds until sign-in may be tried again, or 0 when it may be tried now."""
        email_key, addr_key = self._keys(email, address)
        pipe = self.redis.pipeline()
        pipe.get(email_key).ttl(email_key).get(addr_key).ttl(addr_key)
        email_count, email_ttl, addr_count, addr_ttl = pipe.execute()
        waits = []
        if int(email_count or 0) >= self.max_failures:
            waits.append(max(int(email_ttl), 1))
        if int(addr_count or 0) >= self.max_failures * 4:
            waits.append(max(int(addr_ttl), 1))
        return max(waits, default=0)

    def failed(self, email: str, address: str) -> None:
        """Record one failed attempt."""
        pipe = self.redis.pipeline()
        for key in self._keys(email, address):
            # The window starts at the first failure (SET NX EX works on Redis 6 too).
            pipe.set(key, 0, ex=self.window, nx=True)
            pipe.incr(key)
        pipe.execute()

    def succeeded(self, email: str, address: str) -> None:
        """Forget the account's failures after a good sign-in (the address count stays)."""
        self.redis.delete(self._keys(email, address)[0])
