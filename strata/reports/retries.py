"""A report's retry policy: how many attempts a segment gets, how long it waits between them, and which
failures are worth another attempt.

- Attempts: `max_attempts` per retry budget (1 without `retry_failed`); a manual retry starts a
  fresh budget and adds attempts, it never resets the count.
- Back-off: exponential with "equal jitter" — before failed attempt n's successor the segment
  waits between half and all of `min(backoff_max, backoff * 2**(n-1))` seconds, and never less
  than the `Retry-After` the source was given (capped at `MAX_RETRY_AFTER_SECONDS`).
- No retry for a client error: an HTTP 4xx other than 408 (timeout) and 429 (too many requests)
  fails the segment at once, as does a source error marked permanent.
- Timeout: each attempt has `timeout_seconds`; a source that overruns it fails that attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 300.0
TIMEOUT_SECONDS = 300.0
MAX_RETRY_AFTER_SECONDS = 3600.0
RETRIED_CLIENT_ERRORS = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """The retry settings of one report (from its segmentation config)."""

    max_attempts: int = MAX_ATTEMPTS
    backoff_seconds: float = BACKOFF_SECONDS
    backoff_max_seconds: float = BACKOFF_MAX_SECONDS
    timeout_seconds: float = TIMEOUT_SECONDS

    @classmethod
    def of(cls, segmentation: dict | None) -> RetryPolicy:
        """Return the policy a segmentation config describes (defaults for what it does not say)."""
        config = segmentation or {}
        attempts = int(config.get("max_attempts", MAX_ATTEMPTS)) if config.get("retry_failed") else 1
        return cls(max(attempts, 1), float(config.get("backoff_seconds", BACKOFF_SECONDS)),
                   float(config.get("backoff_max_seconds", BACKOFF_MAX_SECONDS)),
                   float(config.get("timeout_seconds", TIMEOUT_SECONDS)))

    def delay(self, failures: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Return the seconds to wait after the `failures`-th failed attempt of the budget."""
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(failures - 1, 0))
        wait = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER_SECONDS))
        return wait


def retryable(error: BaseException) -> bool:
    """Return whether another attempt could succeed: not a 4xx other than 408/429, not marked permanent."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS:
        return False
    return bool(getattr(error, "retryable", True))
