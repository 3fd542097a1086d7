"""Who receives what: every connection of a user, never another user's; tokens per request."""

from __future__ import annotations

import sqlite3
from contextlib import AsyncExitStack
from functools import partial

import httpx
import trio

import settings
from handlers.accounts import TokenCodec
from server import Running
from storage import request_log
from tests.clients import connect, prepare_player, race, register, stored_player, user_id_of
from tests.conftest import TEST_SECRETS


async def test_every_connection_of_the_user_gets_every_response(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice, bob = await register(http), await register(http)
    prepare_player(config.storage.path, user_id_of(alice), {1: 1})
    async with (
        connect(ws_port, alice["access_token"]) as tab_one,
        connect(ws_port, alice["access_token"]) as tab_two,
        connect(ws_port, bob["access_token"]) as other,
    ):
        # tab_two's own session answer also reached tab_one; drain it first.
        assert (await tab_one.receive())["request_type"] == "session"
        request_id = await tab_one.send("cook")
        for tab in (tab_one, tab_two):
            assert await tab.receive() == {
                "message_type": "response",
                "request_id": request_id,
                "request_type": "cook",
                "data": {"dishes": 1, "xp": 1},
            }
        request_id = await tab_two.send("sell")
        for tab in (tab_one, tab_two):
            frame = await tab.receive()
            assert (frame["request_id"], frame["data"]) == (
                request_id,
                {"dishes": 0, "money": 1, "xp": 2},
            )
        # Errors go to the requester only.
        assert await tab_one.error("sell") == "not enough dishes"
        await tab_two.silent()
        await other.silent()


async def test_a_connection_without_a_session_gets_nothing_of_the_others(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice = await register(http)
    prepare_player(config.storage.path, user_id_of(alice), {1: 1})
    async with (
        connect(ws_port, alice["access_token"]) as playing,
        connect(ws_port, alice["access_token"], session=False) as idle,
    ):
        await playing.request("cook")
        await idle.silent()


async def test_token_problems(http: httpx.AsyncClient, ws_port: int) -> None:
    alice, bob = await register(http), await register(http)
    codec = TokenCodec(
        access_secret=TEST_SECRETS["access_token"], refresh_secret=TEST_SECRETS["refresh_token"]
    )
    expired = codec.issue("access", user_id_of(alice), -10, {"id": str(user_id_of(alice))}).token
    async with connect(ws_port, alice["access_token"], session=False) as player:
        player.token = ""
        assert await player.error("session") == "missing token"
        player.token = "not.a.token"
        assert await player.error("session") == "token invalid"
        player.token = alice["refresh_token"]  # a refresh token is not an access token
        assert await player.error("session") == "token invalid"
        player.token = expired
        assert await player.error("session") == "token expired"
        player.token = alice["access_token"]
        await player.request("session")
        player.token = bob["access_token"]
        assert await player.error("cook") == "token belongs to another user"
        player.token = expired
        assert await player.error("cook") == "token expired"
        # The client refreshes over REST and retries on the same connection.
        refreshed = await http.post(
            "/refresh", headers={"Authorization": f"Bearer {alice['refresh_token']}"}
        )
        player.token = refreshed.json()["tokens"]["access_token"]
        assert await player.request("level_check") == {
            "current_rank": 0,
            "current_xp": 0,
            "needed_xp": 120,
        }


async def test_a_retried_request_id_gets_the_first_answer_once(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    async with connect(ws_port, alice["access_token"]) as player:
        first = await player.request("cook", request_id="retry-me")
        assert first == {"dishes": 1, "xp": 1}
        assert await player.request("cook", request_id="retry-me") == first
        assert await player.request("cook", request_id="another") == {"dishes": 2, "xp": 2}
        # Concurrent duplicates: both answered alike, applied once.
        for _ in range(2):
            await player.send("cook", request_id="twice-at-once")
        answers = [await player.receive() for _ in range(2)]
        assert answers[0] == answers[1]
        assert answers[0]["data"] == {"dishes": 3, "xp": 3}
        # Another user's identical id is their own request.
        async with connect(ws_port, bob["access_token"]) as other:
            assert await other.request("cook", request_id="retry-me") == {"dishes": 1, "xp": 1}
    assert stored_player(config.storage.path, user_id_of(alice))["dishes"] == 3


async def test_answers_reach_the_request_logs_ring_by_the_next_fold(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice = await register(http)
    user_id = user_id_of(alice)
    prepare_player(config.storage.path, user_id, {1: 1})
    async with connect(ws_port, alice["access_token"]) as player:
        for n in range(3):
            await player.request("cook", request_id=f"c{n}")
    with sqlite3.connect(config.storage.path) as database, trio.fail_after(5):
        # The server folds on its own schedule, which tells no one: polled.
        unfolded = "SELECT count(*) FROM request_journal"
        while database.execute(unfolded).fetchone()[0]:  # noqa: ASYNC110
            await trio.sleep(request_log.FOLD_EVERY)
        ring = database.execute(
            "SELECT seq, request_id, action, response FROM request_log WHERE user_id = ?"
            " ORDER BY seq",
            (user_id,),
        ).fetchall()
    assert ring == [
        (n, f'"c{n}"', "cook", f'{{"dishes":{n + 1},"xp":{n + 1}}}'.encode()) for n in range(3)
    ]


ROUNDS = 100
AT_ONCE = 5  # rounds run side by side (each its own player)


async def test_concurrent_purchases_with_money_for_one(
    http: httpx.AsyncClient, config: settings.Settings, server: Running
) -> None:
    """50 upgrade_buy at once over five connections on both ports (listener, HTTP port,
    listener, ...), with money for one, repeated for 100 players (five at a time): every
    time exactly one succeeds, every other is `not enough money`, every connection hears
    of the success, and the stored player bought one stove."""
    ports = [server.ws_port, server.http_port] * 2 + [server.ws_port]
    outcomes: list[tuple[list[object], list[str], tuple[int, dict[int, int]]]] = []

    async def one_round(limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            tokens = await register(http)
            user_id = user_id_of(tokens)
            # One stove costs 250. (In a thread: other rounds' commits must go on meanwhile.)
            await trio.to_thread.run_sync(
                partial(prepare_player, config.storage.path, user_id, money=300)
            )
            async with AsyncExitStack() as stack:
                players = [
                    await stack.enter_async_context(connect(port, tokens["access_token"]))
                    for port in ports
                ]
                for index, player in enumerate(players):  # the later sessions' answers
                    for _ in range(len(players) - 1 - index):
                        assert (await player.receive())["request_type"] == "session"
                answers = await race(players, 10, "upgrade_buy", id=4)
        errors = [a["data"]["message"] for a in answers.values() if a["request_type"] == "error"]
        stored = stored_player(config.storage.path, user_id)
        outcomes.append(
            (
                [a["data"] for a in answers.values() if a["request_type"] != "error"],
                sorted(set(errors)),
                (stored["money"], stored["owned"]),
            )
        )

    limiter = trio.CapacityLimiter(AT_ONCE)
    async with trio.open_nursery() as nursery:
        for _ in range(ROUNDS):
            nursery.start_soon(one_round, limiter)
    assert (
        outcomes
        == [
            (
                [{"money": 50, "xp": 6}],
                ["not enough money, you have: 50, you need: 800"],
                (50, {4: 1}),
            )
        ]
        * ROUNDS
    )
