"""Failed sign-ins slow the next attempt down with growing delays, never with a lock an attacker controls.

Failures are counted in Redis three ways within a window: for one account from one address, for
one address (any account: password spraying) and for one account (any address). Past a free
allowance each count asks for a delay since the last failure that doubles per failure: the first
two are capped at `max_delay`, the account-wide one at `account_max_delay` (a few seconds), so the
owner with the right password at a fresh address waits at most that long, whatever others try.
"""

from __future__ import annotations

import hashlib
import math
import time

from redis import Redis


def _delay(failures: int, free: int, cap: int) -> float:
    return 0.0 if failures < free else float(min(2 ** min(failures - free, 30), cap))


class LoginThrottle:
    """Growing sign-in delays per (account, address), per address and per account."""

    def __init__(self, redis: Redis, max_failures: int, window_seconds: int, max_delay: int = 900,
                 account_max_delay: int = 5):
        self.redis = redis
        self.window = window_seconds
        # (free failures, longest delay) for the pair, the address and the account.
        self.rules = ((max_failures, max_delay), (max_failures * 4, max_delay), (max_failures * 2, account_max_delay))

    @staticmethod
    def _keys(email: str, address: str) -> list[str]:
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        pair = hashlib.sha256(f"{email}\n{address}".encode()).hexdigest()[:32]
        return [f"strata:login:pair:{pair}", f"strata:login:addr:{address[:64]}", f"strata:login:acct:{account}"]

    def retry_after(self, email: str, address: str) -> int:
        """Return whole seconds until sign-in may be tried again, or 0 when it may be tried now."""
        pipe = self.redis.pipeline()
        for key in self._keys(email, address):
            pipe.hmget(key, "n", "last")
        now, wait = time.time(), 0.0
        for (count, last), (free, cap) in zip(pipe.execute(), self.rules, strict=True):
            if count is not None and last is not None:
                wait = max(wait, float(last) + _delay(int(count), free, cap) - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, email: str, address: str) -> None:
        """Record one failed attempt."""
        pipe = self.redis.pipeline()
        now = time.time()
        for key in self._keys(email, address):
            pipe.hincrby(key, "n", 1).hset(key, "last", now).expire(key, self.window)
        pipe.execute()

    def succeeded(self, email: str, address: str) -> None:
        """Forget the account's failures after a good sign-in (the address's count stays)."""
        keys = self._keys(email, address)
        self.redis.delete(keys[0], keys[2])
