"""A scripted game over `/ws` on both ports: every request type's exact frames and numbers."""

from __future__ import annotations

import csv
import sqlite3
from typing import Any

import httpx

import settings
from scripts.seed import CATALOGUES
from tests.clients import connect, prepare_player, register, stored_player, user_id_of

TYPE_ORDER = ["dish", "equipment", "global", "staff", "point"]


def expected_upgrades(owned: dict[int, int]) -> dict[str, list[dict[str, Any]]]:
    """The upgrade lists, built straight from the catalogue CSV."""
    with (CATALOGUES / "clicker_upgrades.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    rows.sort(key=lambda r: (TYPE_ORDER.index(r["upgrade_type"]), int(r["price"]), int(r["id"])))

    def view(row: dict[str, str]) -> dict[str, Any]:
        factor, value = float(row["price_factor"]), float(row["boost_value"])
        return {
            "id": int(row["id"]),
            "name": row["name"],
            "icon_name": row["icon_name"],
            "upgrade_type": row["upgrade_type"],
            "price_factor": int(factor) if factor.is_integer() else factor,
            "price": int(row["price"]),
            "access_level": int(row["access_level"]),
            "boost": {
                "id": int(row["id"]),
                "boost_type": row["boost_type"],
                "value": int(value) if value.is_integer() else value,
            },
            "times_bought": owned.get(int(row["id"]), 0),
        }

    return {
        "available": [
            view(r) for r in rows if r["upgrade_type"] != "dish" or int(r["id"]) not in owned
        ],
        "current": [view(r) for r in rows if int(r["id"]) in owned],
    }


async def test_a_new_player_cooks_sells_and_buys(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens = await register(http, "chef@example.com")
    user_id = user_id_of(tokens)
    async with connect(ws_port, tokens["access_token"], session=False) as player:
        assert await player.error("cook") == "session not started"
        assert await player.request("session") == {
            "session": {
                "user_id": user_id,
                "user_email": "chef@example.com",
                "money": 0,
                "dishes": 0,
                "level": {"rank": 0, "xp": 0},
                "prestige": {"current_value": 0, "current_boost_value": 0, "accumulated_value": 0},
                "upgrades": expected_upgrades({}),
            }
        }
        assert await player.error("cook") == "can't perform this action"
        assert await player.error("sell") == "not enough dishes"
        # The sandwich costs 0; buying gives 0.05 x 120 (xp to rank 1) = 6 xp.
        assert await player.request("upgrade_buy", id=1) == {"money": 0, "xp": 6}
        assert await player.request("cook") == {"dishes": 1, "xp": 7}
        assert await player.request("sell") == {"dishes": 0, "money": 1, "xp": 8}
        assert await player.error("sell") == "not enough dishes"
        assert (
            await player.error("upgrade_buy", id=2) == "not enough money, you have: 1, you need: 25"
        )
        for round_ in range(24):
            assert await player.request("cook") == {"dishes": 1, "xp": 9 + 2 * round_}
            assert await player.request("sell") == {
                "dishes": 0,
                "money": 2 + round_,
                "xp": 10 + 2 * round_,
            }
        assert await player.request("upgrade_buy", id=2) == {"money": 0, "xp": 62}  # the cola, 25
        assert await player.request("cook") == {"dishes": 1, "xp": 63}
        assert await player.request("sell") == {"dishes": 0, "money": 2, "xp": 64}  # mPc is 2 now
        assert await player.error("upgrade_buy", id=1) == "upgrade not found"  # dishes: once
        assert await player.error("upgrade_buy", id=999) == "upgrade not found"
        assert (
            await player.error("upgrade_buy", id="4")
            == "not enough money, you have: 2, you need: 250"
        )
        assert await player.request("upgrade_list") == expected_upgrades({1: 1, 2: 1})
        assert await player.request("level_check") == {
            "current_rank": 0,
            "current_xp": 64,
            "needed_xp": 120,
        }
        assert await player.request("level_up") == {"current_rank": 0, "current_xp": 64}
        assert await player.request("passive") == {
            "money": 2,
            "dishes": 0,
            "level_rank": 0,
            "level_xp": 64,
            "prestige_accumulated": 0,
        }
    stored = stored_player(config.storage.path, user_id)
    assert (stored["money"], stored["dishes"], stored["xp"], stored["owned"]) == (
        2,
        0,
        64,
        {1: 1, 2: 1},
    )


async def test_repeat_purchases_follow_the_price_factor(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens = await register(http)
    user_id = user_id_of(tokens)
    prepare_player(config.storage.path, user_id, money=10_000)
    async with connect(ws_port, tokens["access_token"]) as player:
        # The new stove: 250, then 250 x 3.2 = 800, then 2560; 6 xp each at rank 0.
        assert await player.request("upgrade_buy", id=4) == {"money": 9750, "xp": 6}
        assert await player.request("upgrade_buy", id=4) == {"money": 8950, "xp": 12}
        assert await player.request("upgrade_buy", id=4) == {"money": 6390, "xp": 18}
        assert await player.error("upgrade_buy", id=4) == (
            "not enough money, you have: 6390, you need: 8192"
        )
        lists = await player.request("upgrade_list")
        assert lists == expected_upgrades({4: 3})
    assert stored_player(config.storage.path, user_id)["owned"] == {4: 3}
    assert stored_player(config.storage.path, user_id)["money"] == 6390


async def test_levels_up_across_the_tables_dip(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens = await register(http)
    user_id = user_id_of(tokens)
    prepare_player(config.storage.path, user_id, rank=4, xp=1000.0)
    async with connect(ws_port, tokens["access_token"]) as player:
        assert await player.request("level_check") == {
            "current_rank": 4,
            "current_xp": 1000,
            "needed_xp": 400,
        }
        assert await player.request("level_up") == {
            "current_rank": 5,
            "current_xp": 600,
            "next_xp": 362,
        }
        assert await player.request("level_check") == {
            "current_rank": 5,
            "current_xp": 600,
            "needed_xp": 362,
        }
        assert await player.request("level_up") == {
            "current_rank": 6,
            "current_xp": 238,
            "next_xp": 474,
        }
        assert await player.request("level_up") == {"current_rank": 6, "current_xp": 238}
        session = (await player.request("session"))["session"]
        assert session["level"] == {"rank": 6, "xp": 238}
    assert stored_player(config.storage.path, user_id)["rank"] == 6


async def test_prestige_reset_takes_effect_at_once(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens = await register(http)
    user_id = user_id_of(tokens)
    prepare_player(config.storage.path, user_id, prestige_accumulated=0.5, money=100)
    async with connect(ws_port, tokens["access_token"]) as player:
        assert await player.error("session_reset") == "not enough prestige points"
    other = await register(http)
    other_id = user_id_of(other)
    prepare_player(
        config.storage.path,
        other_id,
        {1: 1, 4: 2},
        money=500,
        dishes=7,
        rank=9,
        xp=44.0,
        prestige_accumulated=2.5,
    )
    async with connect(ws_port, other["access_token"]) as player:
        assert await player.request("session_reset") == {"message": "success"}
        session = (await player.request("session"))["session"]
        assert (session["money"], session["dishes"], session["level"]) == (
            0,
            0,
            {"rank": 0, "xp": 0},
        )
        # current 0 + 2.5; boost 0 + round1(1 + 0.05 x 2.5 = 1.125) = 1.1
        assert session["prestige"] == {
            "current_value": 2.5,
            "current_boost_value": 1.1,
            "accumulated_value": 0,
        }
        assert session["upgrades"] == expected_upgrades({})
        assert await player.error("cook") == "can't perform this action"
        # xp 0.05 x 120 + 0.1 x 2.5 = 6.25; a cook adds 1 + 0.05 x 2.5
        assert await player.request("upgrade_buy", id=1) == {"money": 0, "xp": 6.25}
        assert await player.request("cook") == {"dishes": 1, "xp": 7.38}
        # The sale is boosted: ceil(1 x 1 x 1 x 1.1) = 2
        assert await player.request("sell") == {"dishes": 0, "money": 2, "xp": 8.5}
    stored = stored_player(config.storage.path, other_id)
    assert (stored["prestige_current"], stored["prestige_boost"], stored["owned"]) == (
        2.5,
        1.1,
        {1: 1},
    )


async def test_a_row_changed_outside_the_server_is_reloaded(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    tokens = await register(http)
    user_id = user_id_of(tokens)
    prepare_player(config.storage.path, user_id, {1: 1}, money=10)
    async with connect(ws_port, tokens["access_token"]) as player:
        assert await player.request("cook") == {"dishes": 1, "xp": 1}
        # A tool changes the balance while the player plays.
        with sqlite3.connect(config.storage.path) as tool:
            tool.execute("UPDATE clicker_players SET money = 500 WHERE user_id = ?", (user_id,))
        assert await player.error("sell") == "storage unavailable, try again"
        # The server took the stored row as the truth; play goes on from it.
        assert await player.request("sell") == {"dishes": 0, "money": 501, "xp": 2}
    assert stored_player(config.storage.path, user_id)["money"] == 501
