"""A player's turn: the lock that serialises every change to one player.

The passive ticker takes every connected player's turn each second, so
taking and giving one back must cost next to nothing when nobody waits: a
flag, with a `trio.lowlevel.ParkingLot` made only when someone first has to
wait. trio's one-permit `Semaphore` (which this replaced) consults its lot
on every take and give back, two Python calls more each: for 5,000 players,
8.8 against 4.4 ms a tick in process. trio's `Lock` also records its owner.

Invariants: one holder at a time; waiters get the turn in the order they
came, handed over directly by `release` (nobody can take it in between); a
waiter cancelled while waiting never holds it.
"""

from __future__ import annotations

from types import TracebackType

import trio


class Turn:
    __slots__ = ("_waiting", "held")

    def __init__(self) -> None:
        self.held = False
        self._waiting: trio.lowlevel.ParkingLot | None = None

    def acquire_nowait(self) -> None:
        """Take the turn at once; raises trio.WouldBlock if it is held."""
        if self.held:
            raise trio.WouldBlock
        self.held = True

    async def acquire(self) -> None:
        """Take the turn, waiting for it if need be. A cancel point, but a schedule point
        only when it waits: whoever takes a turn waits for a commit right after."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.held:
            if self._waiting is None:
                self._waiting = trio.lowlevel.ParkingLot()
            await self._waiting.park()  # `release` hands the turn over: `held` stays True
        else:
            self.held = True

    def release(self) -> None:
        """Give the turn back: to the first waiter if there is one."""
        if not self.held:
            raise RuntimeError("a turn released that nobody held")
        if self._waiting:
            self._waiting.unpark()
        else:
            self.held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
