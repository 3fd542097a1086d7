"""A player's turn: one holder, waiters served in order, a cancelled waiter never holds it."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from handlers.clicker.turn import Turn


async def test_taken_at_once_when_free_and_refused_at_once_when_held() -> None:
    turn = Turn()
    turn.acquire_nowait()
    assert turn.held
    with pytest.raises(trio.WouldBlock):
        turn.acquire_nowait()
    turn.release()
    assert not turn.held
    with pytest.raises(RuntimeError):
        turn.release()
    async with turn:
        assert turn.held
    assert not turn.held


async def test_waiters_get_the_turn_in_the_order_they_came() -> None:
    turn = Turn()
    served: list[tuple[str, int]] = []

    async def wait_for_it(number: int) -> None:
        async with turn:
            served.append(("in", number))
            await trio.lowlevel.checkpoint()  # held across it: nobody else comes in
            served.append(("out", number))

    turn.acquire_nowait()
    async with trio.open_nursery() as nursery:
        for number in range(5):
            nursery.start_soon(wait_for_it, number)
            await trio.testing.wait_all_tasks_blocked()  # each parks before the next comes
        assert served == []
        turn.release()  # handed over: nobody can take it in between
        with pytest.raises(trio.WouldBlock):
            turn.acquire_nowait()
    assert served == [(side, number) for number in range(5) for side in ("in", "out")]
    assert not turn.held


async def test_a_waiter_cancelled_while_waiting_never_holds_the_turn() -> None:
    turn = Turn()
    served: list[str] = []
    gone = trio.CancelScope()

    async def wait_for_it(name: str, scope: trio.CancelScope) -> None:
        with scope:
            async with turn:
                served.append(name)

    turn.acquire_nowait()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_it, "gone", gone)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(wait_for_it, "next", trio.CancelScope())
        await trio.testing.wait_all_tasks_blocked()
        gone.cancel()  # the first waiter leaves the line before its turn
        await trio.testing.wait_all_tasks_blocked()
        turn.release()
    assert served == ["next"]
    assert not turn.held


async def test_acquire_is_a_checkpoint_even_when_free() -> None:
    turn = Turn()
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await turn.acquire()
    assert not turn.held
