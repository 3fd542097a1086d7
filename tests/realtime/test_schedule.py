"""run_every keeps a fixed schedule: no drift however long each run takes."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from realtime.schedule import run_every


async def test_no_drift_over_100_ticks(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    times: list[float] = []

    async def tick() -> None:
        times.append(trio.current_time() - start)
        await trio.sleep(0.3)  # work takes time; the next run still starts on the second

    with trio.move_on_after(100.5):
        await run_every(1.0, tick)
    assert times == pytest.approx([float(n) for n in range(1, 101)])


async def test_an_overrun_skips_the_missed_slots(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    times: list[float] = []

    async def tick() -> None:
        times.append(trio.current_time() - start)
        if len(times) == 3:
            await trio.sleep(2.5)  # runs 3..5.5: the slots at 4 and 5 are gone

    with trio.move_on_after(8.5):
        await run_every(1.0, tick)
    assert times == pytest.approx([1.0, 2.0, 3.0, 6.0, 7.0, 8.0])
