"""run_every keeps a fixed schedule: no drift however long each run takes; a run may ask
how late it starts."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from realtime.schedule import HELD, loop_was_held, run_every, run_every_late


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


async def test_each_run_is_told_how_late_it_starts(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    lateness: list[float] = []

    async def tick(late: float) -> None:
        lateness.append(late)

    async def hold() -> None:
        await trio.sleep(2.5)
        autojump_clock.jump(1.0)  # the loop held until 3.5: the run due at 3 starts then

    with trio.move_on_after(4.2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold)
            await run_every_late(1.0, tick)
    assert lateness == pytest.approx([0.0, 0.0, 0.5, 0.0])
    caplog.set_level("INFO", "hearth.realtime")
    assert not loop_was_held(HELD - 0.01, "a sweep")
    assert loop_was_held(HELD, "a sweep")
    assert caplog.messages == ["a sweep came 1.0 s late: the loop was held"]
