"""A token bucket: how many messages one connection may send, and how fast.

Invariant: over any interval of length t, at most `burst + rate * t` calls to
`allow` return True.
"""

from __future__ import annotations

import trio


class TokenBucket:
    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = trio.current_time()

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = trio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
