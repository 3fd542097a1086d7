"""Passive income: pushed ticks with the spec's numbers, to every connection of the player."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest
import trio

import settings
from tests.clients import connect, prepare_player, register, stored_player, user_id_of

TICK = 0.05


def _passive(money: int, dishes: int, xp: float, accumulated: float) -> dict[str, object]:
    return {
        "message_type": "response",
        "request_id": "",
        "request_type": "passive",
        "data": {
            "money": money,
            "dishes": dishes,
            "level_rank": 0,
            "level_xp": xp,
            "prestige_accumulated": accumulated,
        },
    }


@pytest.mark.settings(clicker={"tick_interval": TICK})
async def test_passive_ticks_follow_the_formula(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens, idle = await register(http), await register(http)
    prepare_player(config.storage.path, user_id_of(tokens), {1: 1}, money=20_000)
    prepare_player(config.storage.path, user_id_of(idle), {1: 1}, money=20_000)
    async with (
        connect(ws_port, tokens["access_token"]) as player,
        connect(ws_port, tokens["access_token"]) as second_tab,
        connect(ws_port, idle["access_token"]) as no_income,
    ):
        await player.receive()  # second_tab's session answer
        # Nothing passive yet: no ticks.
        await player.silent(TICK * 4)
        # The smart register (id 19): mPs 1; dPs defaults to 1.
        await player.request("upgrade_buy", id=19)
        assert (await second_tab.receive())["data"] == {"money": 5000, "xp": 6}
        # Each tick: accumulate round4(1/20000); sell 1 from 3 dishes up; cook 1.
        expected = [
            _passive(5000, 1, 6.2, 0.0001),
            _passive(5000, 2, 6.4, 0.0002),
            _passive(5000, 3, 6.6, 0.0003),
            _passive(5001, 3, 6.85, 0.0004),
            _passive(5002, 3, 7.1, 0.0005),
        ]
        for tab in (player, second_tab):
            assert [await tab.receive() for _ in expected] == expected
        await no_income.silent(TICK * 3)
    # Once its connections are gone, the player stops ticking: its stored row settles
    # and stays. How soon the server sees the closes depends on the host (a loaded CI
    # host once ran four ticks late), so wait for the row to hold still over four ticks.
    settled = await _settled(config.storage.path, user_id_of(tokens), TICK * 4)
    assert settled["money"] >= 5002
    await trio.sleep(TICK * 4)
    assert stored_player(config.storage.path, user_id_of(tokens)) == settled


async def _settled(database: str, user_id: int, still: float) -> dict[str, Any]:
    """The player's stored row once it has not changed for `still` seconds (5 s at most)."""
    with trio.fail_after(5):
        before, now = None, stored_player(database, user_id)
        while now != before:
            await trio.sleep(still)
            before, now = now, stored_player(database, user_id)
    return now


@pytest.mark.settings(clicker={"tick_interval": TICK})
async def test_a_row_changed_outside_the_server_is_reloaded_and_others_tick_on(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    edited, untouched = await register(http), await register(http)
    for tokens in (edited, untouched):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1, 19: 1}, money=5000)
    # (money earned, dishes, xp, accumulated) after each tick, from 0 dishes and 0 xp:
    # each tick accumulates 0.0001 and cooks 1; from 3 dishes up it first sells 1.
    ticks: list[tuple[int, int, float, float]] = [
        (0, 1, 0.2, 0.0001),
        (0, 2, 0.4, 0.0002),
        (0, 3, 0.6, 0.0003),
        (1, 3, 0.85, 0.0004),
        (2, 3, 1.1, 0.0005),
        (3, 3, 1.35, 0.0006),
    ]
    async with (
        connect(ws_port, edited["access_token"]) as player,
        connect(ws_port, untouched["access_token"]) as other,
    ):
        assert await player.receive() == _passive(5000, *ticks[0][1:])
        # A tool sets the money while the server plays. The first tick after it misses
        # its conditional UPDATE, so it stores and pushes nothing for this player, and the
        # stored row (money 9000, the rest as last ticked) is the truth from then on.
        await trio.to_thread.run_sync(
            partial(prepare_player, config.storage.path, user_id_of(edited), money=9000)
        )
        pushed = [await player.receive() for _ in ticks[1:]]
        reloaded = next((i for i, push in enumerate(pushed, 1) if push["data"]["money"] >= 9000), 0)
        assert reloaded, f"the server kept its own money: {pushed}"
        earned_before = ticks[reloaded - 1][0]
        assert pushed == [
            _passive((5000 if i < reloaded else 9000 - earned_before) + earned, dishes, xp, points)
            for i, (earned, dishes, xp, points) in enumerate(ticks)
            if i > 0
        ]
        assert [await other.receive() for _ in ticks] == [
            _passive(5000 + earned, dishes, xp, points) for earned, dishes, xp, points in ticks
        ]
    stored = stored_player(config.storage.path, user_id_of(edited))
    assert stored["money"] >= 9000 - earned_before + ticks[-1][0]
