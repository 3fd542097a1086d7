"""Run an action on a fixed schedule: the n-th run starts at start + n * period.

Invariant: the schedule does not drift. A run that takes longer than a period
delays the next one, and missed slots are skipped rather than run back to
back, so a stalled process catches up on the clock, not on work. An action
may ask how late its run starts (`run_every_late`): one that judges what it
has not yet heard (keepalive) must know when the loop was held.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import trio

logger = logging.getLogger("hearth.realtime")

# A run this late (seconds) found the loop held (a stalled disk, a paused process), not
# merely busy: what arrived while it was held may still be unread.
HELD = 1.0


def loop_was_held(late: float, action: str) -> bool:
    """Whether a run of `action` that starts `late` seconds after its slot found the loop
    held (logged when it did)."""
    if late < HELD:
        return False
    logger.info("%s came %.1f s late: the loop was held", action, late)
    return True


async def run_every(period: float, action: Callable[[], Awaitable[None]]) -> None:
    """Call `action` once every `period` seconds, forever (cancel to stop)."""

    @functools.wraps(action)  # the warning names the action
    async def run(late: float) -> None:
        await action()

    await run_every_late(period, run)


async def run_every_late(period: float, action: Callable[[float], Awaitable[None]]) -> None:
    """As `run_every`, telling each run how late it starts: seconds after its slot."""
    deadline = trio.current_time()
    while True:
        deadline += period
        await trio.sleep_until(deadline)
        await action(trio.current_time() - deadline)
        late = trio.current_time() - deadline
        if late >= period:
            skipped = int(late // period)
            logger.warning("%s is %d runs behind schedule; skipping them", action, skipped)
            deadline += skipped * period
