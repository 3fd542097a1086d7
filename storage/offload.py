"""Where blocking work runs: a worker thread (the default), or inline on the loop's thread.

Inline is for tests on Trio's autojump mock clock. That clock jumps to the next
deadline whenever every task is waiting, a task waiting for a worker thread
included, so an ordinary commit or bcrypt call would let Hypercorn's read
timeout or a retry's backoff fire early. Inline, the work blocks the loop, no
virtual time passes, and timing tests see only the delays they are about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import trio

T = TypeVar("T")


class RunSync(Protocol):
    async def __call__(
        self, sync_fn: Callable[..., T], *args: Any, limiter: trio.CapacityLimiter | None = None
    ) -> T: ...


async def _inline(
    sync_fn: Callable[..., T], *args: Any, limiter: trio.CapacityLimiter | None = None
) -> T:
    await trio.lowlevel.checkpoint()
    return sync_fn(*args)


def run_sync(worker_threads: bool) -> RunSync:
    """`trio.to_thread.run_sync`, or the inline stand-in when `worker_threads` is False."""
    return trio.to_thread.run_sync if worker_threads else _inline
