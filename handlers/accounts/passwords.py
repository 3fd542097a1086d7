"""Password hashing: bcrypt in worker threads, whole passwords whatever their length.

bcrypt reads at most 72 bytes and stops at a NUL byte. Such passwords are
first reduced with HMAC-SHA256 under a server-side key (base64, 44 bytes),
so every byte counts and nothing is ever truncated or refused. The choice is
made from the password itself, so hashing and verifying always agree.

Invariant: bcrypt never runs on the event loop, at most `concurrency` bcrypt
computations run at once (a login flood queues instead of starving the process
of threads), and at most `max_waiting` wait for them: beyond that a check is
refused at once (PasswordsBusy), so a flood cannot queue without end and keep
every later sign-in waiting behind it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import TypeVar

import bcrypt
import trio

from storage import offload

T = TypeVar("T")

BCRYPT_MAX_BYTES = 72

# Seen at the top of every leaked-password list; refused whatever the length rule.
# fmt: off
COMMON_PASSWORDS = frozenset((
    "123456", "1234567", "12345678", "123456789", "1234567890", "password", "password1",
    "password123", "qwerty", "qwerty123", "qwertyuiop", "111111", "11111111", "000000",
    "00000000", "123123", "12341234", "abc123", "abcd1234", "iloveyou", "admin", "admin123",
    "welcome", "welcome1", "letmein", "monkey", "dragon", "football", "baseball", "sunshine",
    "princess", "master", "superman", "trustno1", "passw0rd", "1q2w3e4r", "1qaz2wsx", "zaq12wsx",
    "asdfghjkl", "asdfasdf", "654321", "87654321", "987654321", "121212", "666666", "777777",
    "888888", "99999999", "123qwe", "qwe123", "changeme", "secret", "default",
))
# fmt: on


class PasswordsBusy(Exception):
    """Every bcrypt worker is busy and `max_waiting` checks wait already: try again later."""


class PasswordHasher:
    def __init__(
        self,
        *,
        cost: int,
        key: bytes,
        concurrency: int | None = None,
        max_waiting: int | None = None,
        worker_threads: bool = True,
    ) -> None:
        self._cost = cost
        self._run_sync = offload.run_sync(worker_threads)
        self._key = key
        self._limiter = trio.CapacityLimiter(concurrency or os.cpu_count() or 1)
        self._max_waiting = max_waiting
        self._dummy_hash = bcrypt.hashpw(b"not a password", bcrypt.gensalt(cost))

    def _prepared(self, password: str) -> bytes:
        raw = password.encode("utf-8", "surrogatepass")
        if len(raw) > BCRYPT_MAX_BYTES or b"\x00" in raw:
            return base64.b64encode(hmac.new(self._key, raw, hashlib.sha256).digest())
        return raw

    async def hash(self, password: str) -> str:
        hashed = await self._bcrypt(
            bcrypt.hashpw, self._prepared(password), bcrypt.gensalt(self._cost)
        )
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed`; with no hash, spend the same time and say no."""
        target = hashed.encode("ascii") if hashed else self._dummy_hash
        matches = await self._bcrypt(bcrypt.checkpw, self._prepared(password), target)
        return matches and hashed is not None

    def ensure_room(self) -> None:
        """Raise PasswordsBusy when every worker is busy and `max_waiting` checks wait.

        Every check asks; a sign-in asks before its throttle counts it, so a refusal
        for want of room never counts as a failed sign-in.
        """
        workers = self._limiter.statistics()
        if (
            self._max_waiting is not None
            and workers.borrowed_tokens >= workers.total_tokens
            and workers.tasks_waiting >= self._max_waiting
        ):
            raise PasswordsBusy

    async def _bcrypt(self, work: Callable[[bytes, bytes], T], password: bytes, other: bytes) -> T:
        """`work(password, other)` in a worker thread, once one is free (see ensure_room)."""
        self.ensure_room()
        return await self._run_sync(work, password, other, limiter=self._limiter)


def password_problem(password: str, *, min_length: int) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters"
    if password.lower() in COMMON_PASSWORDS:
        return "password is too common"
    return None
