"""Sign-in throttling: failed sign-ins to an account slow down the next ones.

After `free` failures in a row, an account's next sign-in must wait a second,
and each further failure doubles the wait, up to `longest`; a success clears the
account's count. Guessing one account's password online then runs at about one
guess per `longest` seconds, and its owner, while someone guesses, waits at most
that long. Every sign-in asks first, so a refused one costs no bcrypt, and counts
as failed from then until it succeeds, so sign-ins sent at once count at once (a
thousand parallel guesses get no further than the first few).

Counts live in memory, by identifier (an email, a phone), for at most `capacity`
identifiers: the one left alone longest is forgotten first, so a flood of
made-up identifiers cannot grow it. A restart forgets them all.
"""

from __future__ import annotations

import math

import trio


class SignInThrottled(Exception):
    """The account's sign-ins must wait `seconds` (whole, rounded up) more."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {seconds} s")
        self.seconds = seconds


class SignInThrottle:
    def __init__(self, *, free: int, longest: float, capacity: int = 100_000) -> None:
        self._free = free
        self._longest = longest
        self._capacity = capacity
        self._failures: dict[str, tuple[int, float]] = {}  # who -> (in a row, wait until)

    def attempt(self, who: str) -> None:
        """Start a sign-in of `who`, counted as failed until `succeeded`; raises
        SignInThrottled (counting nothing) while `who`'s sign-ins must wait."""
        count, until = self._failures.pop(who, (0, 0.0))
        now = trio.current_time()
        if until > now:
            self._failures[who] = (count, until)  # now the newest
            raise SignInThrottled(math.ceil(until - now))
        count += 1
        wait = 0.0 if count <= self._free else min(2.0 ** (count - self._free - 1), self._longest)
        self._failures[who] = (count, now + wait)
        if len(self._failures) > self._capacity:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, who: str) -> None:
        self._failures.pop(who, None)
