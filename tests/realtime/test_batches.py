"""The batch counter: one per run, the same within a batch, another in the next."""

from __future__ import annotations

import trio
import trio.testing

from realtime.batches import current_batches


async def test_the_number_is_the_same_within_a_batch_and_differs_in_the_next() -> None:
    batches = current_batches()
    assert current_batches() is batches  # one per run
    seen: list[tuple[str, int]] = []

    async def step(name: str) -> None:
        seen.append((name, batches.number))
        await trio.lowlevel.cancel_shielded_checkpoint()  # the next batch
        seen.append((name, batches.number))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(step, "a")
        nursery.start_soon(step, "b")
    first = {number for _, number in seen[:2]}
    second = {number for _, number in seen[2:]}
    assert len(first) == 1 and len(second) == 1
    assert second.pop() == first.pop() + 1
