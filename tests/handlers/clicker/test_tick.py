"""A passive tick pushes in turns: other tasks run between them, and every player is told."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import trio
from msgspec.structs import replace

from handlers.accounts import TokenCodec
from handlers.clicker import rules
from handlers.clicker.game import PUSHES_PER_TURN, Game
from handlers.clicker.players import Players
from handlers.clicker.rules import Catalogue, Progress, derive
from realtime.connection import Connection
from realtime.envelope import EnvelopeCodec
from realtime.hub import Hub
from realtime.ratelimit import TokenBucket
from realtime.transport import Handshake
from scripts.seed import clicker_catalogue
from storage import open_database
from tests.realtime.test_connection import FakeTransport

PLAYERS = 2 * PUSHES_PER_TURN + 1


async def test_a_tick_lets_other_tasks_run_between_turns_of_pushes(tmp_path: Path) -> None:
    upgrades, levels = clicker_catalogue()
    catalogue = Catalogue.build(upgrades, levels)
    cooker = next(upgrade.id for upgrade in upgrades if upgrade.boost_type == "dPs")
    owned = {cooker: 1}  # cooks a dish a second: every tick changes the player
    passive = replace(Progress.new(catalogue), owned=owned, stats=derive(owned, catalogue))
    players = Players(idle_eviction=60)
    hub = Hub(max_connections_per_user=1)
    codec = EnvelopeCodec()
    async with open_database(tmp_path / "tick.db") as db:
        users = [(user_id, f"player{user_id}@example.com") for user_id in range(1, PLAYERS + 1)]

        def seed(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT INTO users (id, email, created_at) VALUES (?, ?, 0)", users
            )
            connection.executemany(
                "INSERT INTO clicker_players (user_id) VALUES (?)",
                [(user_id,) for user_id, _ in users],
            )

        await db.write(seed)
        sockets: dict[int, FakeTransport] = {}  # each player's one connection
        for user_id, _ in users:
            player = players.get(user_id)
            player.progress = passive
            players.connect(player)
            socket = sockets[user_id] = FakeTransport(reading=True)
            socket.idle = True  # takes every push at once, as `sent`
            connection = Connection(
                socket,
                Handshake("/ws", {}, {}, "test"),
                codec,
                outbox_size=8,
                rate=TokenBucket(1, 1),
            )
            hub.attach(connection)
            hub.join(connection, player.room)
        game = Game(
            db=db,
            hub=hub,
            tokens=cast(TokenCodec, None),
            catalogue=catalogue,
            players=players,
            idempotency_window=600,
        )
        pushed_seen: list[int] = []  # pushes so far, each time this task ran
        ticked = trio.Event()

        async def tick() -> None:
            await game.tick()
            ticked.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            while not ticked.is_set():
                pushed_seen.append(sum(len(socket.sent) for socket in sockets.values()))
                await trio.lowlevel.checkpoint()
    assert any(0 < pushed < PLAYERS for pushed in pushed_seen)
    after_tick = rules.tick(passive)
    assert after_tick.dishes > passive.dishes  # the tick changed something to push
    assert all(players.get(user_id).progress == after_tick for user_id, _ in users)
    snapshot = rules.passive_snapshot(after_tick)
    pushed = codec.encode_push("passive", snapshot)
    assert all(socket.sent == [pushed] for socket in sockets.values())
