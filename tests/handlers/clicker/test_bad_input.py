"""Hostile and malformed frames: the documented error, nothing changed, everyone still served."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

import settings
from handlers.clicker import rules
from tests.clients import (
    Player,
    close_code,
    connect,
    prepare_player,
    register,
    stored_player,
    user_id_of,
)


def _envelope(token: str, **fields: object) -> str:
    return json.dumps(
        {
            "message_type": "request",
            "request_id": "bad",
            "request_type": "cook",
            "data": {"token": token},
        }
        | fields
    )


async def _error_for(player: Player, frame: str | bytes) -> dict[str, object]:
    await player.socket.send_message(frame)
    answer = await player.receive()
    assert answer["request_type"] == "error", answer
    return answer


async def test_malformed_frames_get_invalid_data_and_change_nothing(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1}, money=10, dishes=4)
    before = stored_player(config.storage.path, user_id_of(alice))
    token = alice["access_token"]
    async with connect(ws_port, token) as player, connect(ws_port, bob["access_token"]) as other:
        invalid_without_id: list[str | bytes] = [
            "not json",
            "",
            "[1, 2]",
            "null",
            '{"request_id": 5.5, "request_type": "cook"}',
            '{"request_id": "n", "request_type": "upgrade_buy", "data": {"id": NaN}}',
            '{"request_id": "n", "request_type": "upgrade_buy", "data": {"id": Infinity}}',
            json.dumps({"request_id": 2**63, "request_type": "cook"}),
            json.dumps({"request_id": "x" * 200, "request_type": "cook"}),
            json.dumps({"request_type": "c" * 60_000}),
            '{"data": ' + "[" * 20_000 + "]" * 20_000 + "}",
            b"\xff\xfe\x00",
        ]
        for frame in invalid_without_id:
            answer = await _error_for(player, frame)
            assert answer == {
                "message_type": "response",
                "request_id": "",
                "request_type": "error",
                "data": {"message": "invalid data"},
            }, frame
        invalid_with_id = [
            _envelope(token, data={"token": 5}),
            _envelope(token, data=[token]),
            _envelope(token, data=None),
            _envelope(token, request_type="upgrade_buy", data={"token": token, "id": 2**63}),
            _envelope(token, request_type="upgrade_buy", data={"token": token, "id": -1}),
            _envelope(token, request_type="upgrade_buy", data={"token": token, "id": "value"}),
            _envelope(token, request_type="upgrade_buy", data={"token": token, "id": 1.5}),
            _envelope(token, request_type="upgrade_buy", data={"token": token}),
            '{"request_id": "bad", "request_type": "upgrade_buy",'
            ' "data": {"token": "t", "id": 1e400}}',
        ]
        for frame in invalid_with_id:
            answer = await _error_for(player, frame)
            assert (answer["request_id"], answer["data"]) == ("bad", {"message": "invalid data"}), (
                frame
            )
        unknown = await _error_for(player, _envelope(token, request_type="fly"))
        assert (unknown["request_id"], unknown["data"]) == (
            "bad",
            {"message": "unknown request type"},
        )
        duplicate = '{"request_id": "bad", "request_type": "cook", "request_type": "fly"}'
        assert (await _error_for(player, duplicate))["data"] == {"message": "unknown request type"}
        huge_token = await _error_for(player, _envelope("t" * 60_000))
        assert huge_token["data"] == {"message": "token invalid"}

        # Nothing changed, and both connections still play.
        assert stored_player(config.storage.path, user_id_of(alice)) == before
        assert await player.request("cook") == {"dishes": 5, "xp": 1}
        assert await other.request("sell") == {"dishes": 3, "money": 11, "xp": 1}


async def test_ids_and_binary_frames_are_echoed_as_sent(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice = await register(http)
    prepare_player(config.storage.path, user_id_of(alice), {1: 1})
    async with connect(ws_port, alice["access_token"]) as player:
        numeric = _envelope(alice["access_token"], request_id=7)
        await player.socket.send_message(numeric)
        assert (await player.receive())["request_id"] == 7
        await player.socket.send_message(_envelope(alice["access_token"]).encode())  # binary JSON
        answer = await player.socket.get_message()
        assert isinstance(answer, str)  # answers are text frames
        assert json.loads(answer)["data"] == {"dishes": 2, "xp": 2}


async def test_oversize_frames_close_with_1009_and_spare_the_others(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    limit = config.realtime.max_message_bytes
    async with connect(ws_port, bob["access_token"]) as other:
        async with connect(ws_port, alice["access_token"]) as player:
            padding = " " * (limit - len(_envelope(alice["access_token"])))
            at_limit = _envelope(alice["access_token"]) + padding
            assert len(at_limit.encode()) == limit
            await player.socket.send_message(at_limit)
            assert (await player.receive())["data"] == {"dishes": 1, "xp": 1}
            await player.socket.send_message(at_limit + " ")
            with pytest.raises(ConnectionClosed) as closed:
                with trio.fail_after(5):
                    await player.socket.get_message()
            assert close_code(closed.value) == 1009
        assert await other.request("cook") == {"dishes": 1, "xp": 1}


@pytest.mark.parametrize(
    ("oversize", "then"),
    [(b"\xff" * 70_000, "{}"), ("x" * 70_000, b"{}"), ("x" * 70_000, "{}")],
    ids=["bytes-then-text", "text-then-bytes", "text-then-text"],
)
async def test_frames_after_an_oversize_message_close_it_and_the_server_serves_on(
    http: httpx.AsyncClient, ws_port: int, oversize: str | bytes, then: str | bytes
) -> None:
    """The client sends on before it sees the 1009: nothing of that reaches anyone.

    (Hypercorn kept the oversize message and appended the next frames to it: a text frame
    after binary ones ended the whole server.)"""
    tokens = await register(http)
    async with connect(ws_port, tokens["access_token"]) as other:
        async with connect(ws_port, tokens["access_token"], session=False) as player:
            await player.socket.send_message(oversize)
            await player.socket.send_message(then)
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
                while True:
                    await player.socket.get_message()
            assert close_code(closed.value) == 1009
        assert (await other.request("level_check"))["current_rank"] == 0
    async with connect(ws_port, tokens["access_token"]) as fresh:
        assert (await fresh.request("level_check"))["current_rank"] == 0


async def test_a_failing_handler_answers_internal_error_and_the_connection_goes_on(
    http: httpx.AsyncClient,
    config: settings.Settings,
    ws_port: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens = await register(http)
    prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    async with connect(ws_port, tokens["access_token"]) as player:

        def broken(progress: object) -> object:
            raise RuntimeError("a bug")

        with monkeypatch.context() as patch:
            patch.setattr(rules, "cook", broken)
            assert await player.error("cook") == "internal error"
        assert "RuntimeError: a bug" in caplog.text
        assert await player.request("cook") == {"dishes": 1, "xp": 1}
