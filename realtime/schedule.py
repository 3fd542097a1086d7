"""Run an action on a fixed schedule: the n-th run starts at start + n * period.

Invariant: the schedule does not drift. A run that takes longer than a period
delays the next one, and missed slots are skipped rather than run back to
back, so a stalled process catches up on the clock, not on work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

logger = logging.getLogger("hearth.realtime")


async def run_every(period: float, action: Callable[[], Awaitable[None]]) -> None:
    """Call `action` once every `period` seconds, forever (cancel to stop)."""
    deadline = trio.current_time()
    while True:
        deadline += period
        await trio.sleep_until(deadline)
        await action()
        late = trio.current_time() - deadline
        if late >= period:
            skipped = int(late // period)
            logger.warning("%s is %d runs behind schedule; skipping them", action, skipped)
            deadline += skipped * period
