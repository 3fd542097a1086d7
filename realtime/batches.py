"""The Trio scheduler's batches, counted, so that a connection writes once in each.

When a room gets many messages at once (a chat's burst), every member was sent each
message with a system call of its own, and the write was most of a delivery's cost.
A connection that has already written in the current batch holds back what follows,
and its pump sends all of that in one write a batch later (or, after `PUMP_BATCH` held
frames, the next push writes them with its own). The first frame still goes out at
once, so a lone message or a reply waits for nothing.

Trio runs its tasks in batches, each after one wait for I/O (which may not wait at
all), and tells an instrument when each such wait ends: `Batches.number` counts them.

Invariant: `number` is the same for every task step of one batch and differs between
batches.
"""

from __future__ import annotations

import trio

_batches: trio.lowlevel.RunVar[Batches] = trio.lowlevel.RunVar("hearth_batches")


class Batches(trio.abc.Instrument):
    def __init__(self) -> None:
        self.number = 0

    def after_io_wait(self, timeout: float) -> None:
        self.number += 1


def current_batches() -> Batches:
    """The counter of the running Trio run (made and installed on first use)."""
    try:
        return _batches.get()
    except LookupError:
        batches = Batches()
        trio.lowlevel.add_instrument(batches)
        _batches.set(batches)
        return batches
