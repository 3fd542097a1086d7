"""The garage over socket.io-client 2 with the websocket transport, as the original's
clients spoke to it: a scripted player, races for one balance, and refusals."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

import settings
from handlers.garage.store import upgrade_price
from server import Running
from tests.sio_clients import (
    CLIENTS,
    emit_event,
    install_npm_clients,
    open_namespace,
    receive_event,
)

TOKEN = "device-token-" + "x" * 30  # 43 characters: the client's own token is kept


class Driver:
    """Steps for driver.js, and the events it received."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.steps: list[dict[str, Any]] = []

    def emit(self, event: str, expect: int = 1, **data: Any) -> Driver:
        self.steps.append({"emit": event, "data": {"token": self.token, **data}, "expect": expect})
        return self

    def raw(self, event: str, data: Any, expect: int = 1) -> Driver:
        self.steps.append({"emit": event, "data": data, "expect": expect})
        return self

    def burst(self, event: str, count: int, sockets: int, **data: Any) -> Driver:
        self.steps.append(
            {
                "burst": event,
                "data": {"token": self.token, **data},
                "count": count,
                "sockets": sockets,
            }
        )
        return self

    async def run(self, server: Running, tmp_path: Path) -> list[tuple[str, Any]]:
        await trio.to_thread.run_sync(install_npm_clients)
        steps = trio.Path(tmp_path / f"steps-{id(self)}.json")
        await steps.write_text(json.dumps(self.steps))
        result = await trio.run_process(
            ["node", str(CLIENTS / "driver.js"), f"http://127.0.0.1:{server.ws_port}", str(steps)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        events = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert result.returncode == 0, (events, result.stderr.decode()[-2000:])
        return [(event["event"], event["data"]) for event in events]


def _player(database: str, user_id: int) -> tuple[int, int, int]:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT money, gold, event_money FROM garage_players WHERE user_id = ?", (user_id,)
        ).fetchone()
    return row[0], row[1], row[2]


async def test_a_scripted_player(
    server: Running, config: settings.Settings, tmp_path: Path
) -> None:
    driver = (
        Driver()
        .raw("register_command", {"device": "android", "token": TOKEN})
        .emit("profile")
        .emit("super_event")  # the original's name for login_command
        .emit("user_cars")
        .emit("add_currency", type="money", amount=30000)
        .emit("add_currency", type="gold", amount=7.0)
        .emit("add_currency", type="event", amount=3)
        .emit("buy_car", car_id=2)
        .emit("buy_car", car_id=2)
        .emit("buy_car", car_id=99)
        .emit("buy_car", car_id=5)
    )
    events = await driver.run(server, tmp_path)
    profile = events[0][1]["user"]
    user_id = profile["id"]
    assert events[0][0] == "profile"
    assert profile == {
        "id": user_id,
        "token": TOKEN,
        "user_name": f"Player{user_id}",
        "level": 1,
        "adventure_stars": 0,
        "current_icon": 1,
        "money": 0,
        "gold": 0,
        "event_money": 0,
        "user_cars": [
            {
                "id": 1,
                "class": "D",
                "name": "Rookie",
                "skin_id": 1,
                "disk_id": 2,
                "engine": 1,
                "suspension": 1,
                "grip": 1,
                "downforce": 1,
            }
        ],
        "user_skins": [
            {
                "skin_id": 1,
                "car_id": 1,
                "type": "body",
                "name": "Rookie factory",
                "rarity": "common",
                "is_new": True,
            },
            {
                "skin_id": 2,
                "car_id": 1,
                "type": "disk",
                "name": "Rookie steel",
                "rarity": "common",
                "is_new": True,
            },
        ],
        "user_icons": [1],
        "user_adventure_levels": [],
        "containers": [
            {
                "id": profile["containers"][0]["id"],
                "container_type_id": 1,
                "ready_at": profile["containers"][0]["ready_at"],
                "ready": True,
            }
        ],
    }
    with sqlite3.connect(config.storage.path) as connection:
        (ready_at,) = connection.execute(
            "SELECT ready_at FROM garage_user_containers WHERE user_id = ?", (user_id,)
        ).fetchone()
    assert profile["containers"][0]["ready_at"] == ready_at  # not rounded to 15 digits
    assert events[1] == ("profile", {"user": profile}) and events[2] == (
        "profile",
        {"user": profile},
    )
    assert events[3] == ("user_cars", {"cars": profile["user_cars"]})
    assert events[4:7] == [("profile", "CURRENCY_ADDED")] * 3
    bought = events[7][1]
    assert events[7][0] == "buy_car" and bought["success"] is True
    assert bought["user_car"] == {
        "id": 2,
        "class": "C",
        "name": "Street",
        "skin_id": 6,
        "disk_id": 7,
        "engine": 1,
        "suspension": 1,
        "grip": 1,
        "downforce": 1,
    }
    assert [skin["skin_id"] for skin in bought["user_skin"]] == [6, 7]
    assert events[8:] == [
        ("buy_car", {"success": False, "errors": ["ALREADY_HAVE_CAR"]}),
        ("buy_car", {"success": False, "errors": ["CAR_NOT_FOUND"]}),
        ("buy_car", {"success": False, "errors": ["NOT_ENOUGH_CURRENCY"]}),
    ]
    assert _player(config.storage.path, user_id) == (25000, 7, 3)

    # The engine, from level 1 to the cap: 1000, 1500, 2100, 2800, ... 19 upgrades.
    prices = [upgrade_price(1000, level) for level in range(1, 20)]
    assert prices[:4] == [1000, 1500, 2100, 2800]
    upgrades = (
        Driver()
        .emit("add_currency", type="money", amount=100000)
        .emit("add_currency", type="money", amount=100000)
    )
    for _ in prices:
        upgrades.emit("car_upgrade", upgrade_type="engine", car_id=1)
    upgrades.emit("car_upgraded", upgrade_type="engine", car_id=1)  # at the cap
    upgrades.emit("car_upgrade", upgrade_type="grip", car_id=3)  # not owned
    events = await upgrades.run(server, tmp_path)
    assert [data for _, data in events[2:]] == (
        [{"status": "CAR_UPGRADED"}] * 19 + [{"status": "RELOAD"}] * 2
    )
    assert _player(config.storage.path, user_id)[0] == 25000 + 200000 - sum(prices)

    looks = (
        Driver()
        .emit("car_skin_changed", car_id=1, skin_id=2)
        .emit("car_skin_changed", car_id=1, skin_id=6)  # another car's skin
        .emit("car_skin_changed", car_id=1, skin_id=3)  # not owned
        .emit("icon_changed", icon_id=1)
        .emit("icon_changed", icon_id=2)  # not owned
        .emit("adventure_level_finished", stars=2, time=50, level_number=1, level_type="race")
        .emit("level_finished", stars=1, time=40.5, level_number=1, level_type="race")
        .emit("level_finished", stars=3, time=60, level_number=1, level_type="race")
        .emit("level_finished", stars=1, time=20, level_number=2, level_type="race")
        .emit("query_command", model="cars")
        .emit("query", model="skins", attributes=["id", "name"])
        .emit("query", model="users")
        .emit("query", model="passwords")
        .emit("query", model="icons", attributes=["password"])
        .emit("level_finished", stars=0, time=0.1, level_number=3, level_type="adventure")
        .emit("profile")
    )
    events = await looks.run(server, tmp_path)
    assert events[:5] == [
        ("status", {"status": "SKIN_CHANGED"}),
        ("status", {"status": "RELOAD"}),
        ("status", {"status": "RELOAD"}),
        ("update_icon", {"icons": "ICON_CHANGED"}),
        ("update_icon", {"_error": "RELOAD"}),
    ]
    assert [data["level"] for _, data in events[5:9]] == [
        {"level_number": 1, "level_type": "race", "stars": 2, "time": 50},
        {"level_number": 1, "level_type": "race", "stars": 2, "time": 40.5},
        {"level_number": 1, "level_type": "race", "stars": 3, "time": 40.5},
        {"level_number": 2, "level_type": "race", "stars": 1, "time": 20},
    ]
    cars = events[9][1]
    assert (cars["model"], cars["attributes"]) == (
        "cars",
        ["id", "class", "name", "price", "upgrade_price"],
    )
    assert [car["price"] for car in cars["cars"]] == [0, 5000, 15000, 40000, 100000]
    assert events[10][1]["skins"][:2] == [
        {"id": 1, "name": "Rookie factory"},
        {"id": 2, "name": "Rookie steel"},
    ]
    assert events[11:14] == [
        ("_error", {"error": "REJECTED_MODEL"}),
        ("_error", {"error": "MODEL_NOT_FOUND"}),
        ("_error", {"error": "ATTRIBUTE_NOT_FOUND"}),
    ]
    final = events[15][1]["user"]
    assert final["adventure_stars"] == 4
    assert final["user_adventure_levels"] == [  # by type, then number; every double exact
        {"level_number": 3, "level_type": "adventure", "stars": 0, "time": 0.1},
        {"level_number": 1, "level_type": "race", "stars": 3, "time": 40.5},
        {"level_number": 2, "level_type": "race", "stars": 1, "time": 20},
    ]
    assert final["user_cars"][0]["disk_id"] == 2 and final["user_cars"][0]["engine"] == 20
    assert {skin["skin_id"]: skin["is_new"] for skin in final["user_skins"]}[2] is False


@pytest.mark.settings(garage={"drop_seed": 7})
async def test_opening_a_container_grants_what_each_slot_says(
    server: Running, config: settings.Settings, tmp_path: Path
) -> None:
    driver = (
        Driver()
        .raw("register", {"device": "iOS", "token": TOKEN})
        .emit("drop", container_id=1)
        .emit("drop", container_id=1)  # the only one is open now
        .emit("profile")
    )
    events = await driver.run(server, tmp_path)
    before = events[0][1]["user"]
    assert events[1][0] == "drop"
    slots = events[1][1]["items"]["slots"]
    assert set(slots) == {"1", "2"}
    assert events[2] == ("_error", {"error": "NO_READY_CONTAINER"})
    after = events[3][1]["user"]
    assert after["containers"] == []
    money = gold = 0
    icons, skins = set(before["user_icons"]), {s["skin_id"] for s in before["user_skins"]}
    for slot in slots.values():
        if "exchanged" in slot:
            assert slot == {"exchanged": True, "exchanged_type": "money", "money": 1}
            money += 1
        elif "money" in slot:
            assert 100 <= slot["money"] < 300
            money += slot["money"]
        elif "gold" in slot:
            assert 1 <= slot["gold"] < 5
            gold += slot["gold"]
        elif "icon" in slot:
            icons.add(slot["icon"]["id"])
        else:
            assert slot["skin"]["rarity"] == "rare" and slot["skin"]["car_id"] == 1
            skins.add(slot["skin"]["id"])
    assert (after["money"], after["gold"]) == (money, gold)
    assert set(after["user_icons"]) == icons
    assert {s["skin_id"] for s in after["user_skins"]} == skins


async def test_racing_for_one_balance(
    server: Running, config: settings.Settings, tmp_path: Path
) -> None:
    """50 concurrent buys, then 50 concurrent upgrades, with money for one: one succeeds."""
    driver = (
        Driver()
        .raw("register", {"device": "android", "token": TOKEN})
        .emit("add_currency", type="money", amount=5000)
        .burst("buy_car", 50, 5, car_id=2)
        .emit("add_currency", type="money", amount=1500)  # the Street's first upgrade
        .burst("car_upgrade", 50, 5, car_id=2, upgrade_type="engine")
        .emit("user_cars")
    )
    events = await driver.run(server, tmp_path)
    user_id = events[0][1]["user"]["id"]
    buys = [data for event, data in events[2:52]]
    assert sum(buy["success"] for buy in buys) == 1
    assert sorted(str(buy.get("errors")) for buy in buys if not buy["success"]) == (
        ["['ALREADY_HAVE_CAR']"] * 49
    )
    upgrades = [data["status"] for event, data in events[53:103]]
    assert sorted(upgrades) == ["CAR_UPGRADED"] + ["RELOAD"] * 49
    assert events[103][1]["cars"][1]["engine"] == 2
    assert _player(config.storage.path, user_id)[0] == 0


ROUNDS = 100
AT_ONCE = 5  # rounds run side by side (each its own device)


async def test_racing_for_one_balance_on_both_ports_repeated(
    server: Running, config: settings.Settings
) -> None:
    """50 car_upgrade at once over five raw Socket.IO WebSockets on both ports (listener,
    HTTP port, listener, ...), with money for one (1500: the Rookie's engine costs 1000,
    then 1500), repeated for 100 devices (five at a time): every time exactly one
    CAR_UPGRADED and 49 RELOAD, 500 money left and the engine at level 2."""
    ports = [server.ws_port, server.http_port] * 2 + [server.ws_port]
    outcomes: list[tuple[list[str], tuple[int, int, int], int]] = []

    async def one_round(n: int, limiter: trio.CapacityLimiter) -> None:
        token = f"race-{n:03d}-" + "x" * 30
        async with limiter, AsyncExitStack() as stack:
            sockets = []
            for port in ports:
                url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
                sockets.append(await stack.enter_async_context(open_websocket_url(url)))
                await open_namespace(sockets[-1])
            first = sockets[0]
            await emit_event(first, "register_command", {"device": "android", "token": token})
            user_id = (await receive_event(first))[1]["user"]["id"]
            await emit_event(
                first, "add_currency", {"type": "money", "amount": 1500, "token": token}
            )
            assert await receive_event(first) == ("profile", "CURRENCY_ADDED")
            statuses: list[str] = []

            async def burst(socket: WebSocketConnection) -> None:
                upgrade = {"car_id": 1, "upgrade_type": "engine", "token": token}
                for _ in range(10):
                    await emit_event(socket, "car_upgrade", upgrade)
                for _ in range(10):
                    event, data = await receive_event(socket)
                    assert event == "status", (event, data)
                    statuses.append(data["status"])

            async with trio.open_nursery() as nursery:
                for socket in sockets:
                    nursery.start_soon(burst, socket)
            await emit_event(first, "user_cars", {"token": token})
            engine = (await receive_event(first))[1]["cars"][0]["engine"]
        stored = await trio.to_thread.run_sync(_player, config.storage.path, user_id)
        outcomes.append((sorted(statuses), stored, engine))

    limiter = trio.CapacityLimiter(AT_ONCE)
    async with trio.open_nursery() as nursery:
        for n in range(ROUNDS):
            nursery.start_soon(one_round, n, limiter)
    assert outcomes == [(["CAR_UPGRADED"] + ["RELOAD"] * 49, (500, 0, 0), 2)] * ROUNDS


async def test_refusals_change_nothing(
    server: Running, config: settings.Settings, tmp_path: Path
) -> None:
    driver = (
        Driver()
        .raw("register", {"device": "android", "token": TOKEN})
        .raw("register", {"device": "windows"})
        .raw("profile", {})
        .raw("profile", {"token": "unknown-device"})
        .raw("buy_car", {"token": TOKEN})
        .raw("buy_car", {"token": TOKEN, "car_id": "two"})
        .emit("add_currency", type="money", amount=-100)
        .emit("add_currency", type="money", amount=10**12)
        .emit("add_currency", type="money", amount=1.5)
        .emit("add_currency", type="diamonds", amount=5)
        .emit("car_upgrade", car_id=1, upgrade_type="wings")
        .emit("adventure_level_finished", stars=4, time=10, level_number=1)
        .emit("adventure_level_finished", stars=3, time=-1, level_number=1)
        .emit("status", version="not a version")
        .raw("status", {"version": "0.9"})
        .raw("status", {"version": "1.0.0"})
        .raw("status", {"version": "1.10"})
        .raw("register", {"device": "iOS", "token": TOKEN})  # taken: another token is made
        .emit("profile")
    )
    events = await driver.run(server, tmp_path)
    invalid = "Invalid data format for"
    assert [event for event, _ in events[1:14]] == ["_error"] * 13
    messages = [data for _, data in events[1:14]]
    assert messages[0] == f'{invalid} "register" event'
    assert messages[1:3] == ["NO_USER_TOKEN", "NO_USER_WAS_FOUND"]
    assert messages[3:5] == [f'{invalid} "buy_car" event'] * 2
    assert messages[5:8] == ["amount must be a whole number from 1 to 100000"] * 3
    assert messages[8] == f'{invalid} "add_currency" event'
    assert messages[9] == f'{invalid} "car_upgrade" event'
    assert messages[10:12] == [f'{invalid} "adventure_level_finished" event'] * 2
    assert messages[12] == f'{invalid} "status" event'
    assert [data for _, data in events[14:17]] == [
        {"status": "LOW_VERSION"},
        {"status": "CORRECT_VERSION"},
        {"status": "CORRECT_VERSION"},
    ]
    other = events[17][1]["user"]
    assert other["token"] != TOKEN and len(other["token"]) >= 32
    mine = events[18][1]["user"]
    assert (
        mine["money"],
        mine["gold"],
        mine["adventure_stars"],
        mine["user_cars"][0]["engine"],
    ) == (0, 0, 0, 1)
    assert _player(config.storage.path, mine["id"]) == (0, 0, 0)
