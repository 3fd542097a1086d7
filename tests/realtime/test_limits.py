"""Handshake checks and per-connection limits, on both ports, against the live server."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing
import wsproto.events
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

import settings
from server import Running
from tests.clients import (
    RawWebSocket,
    close_code,
    connect,
    prepare_player,
    raw_websocket,
    register,
    stored_player,
    user_id_of,
)

ORIGINS = {"allowed_origins": ["http://localhost:8000", "https://example.com"]}
ORIGIN_CASES = [
    (None, True),  # non-browser clients send none
    ("http://localhost:8000", True),
    ("HTTP://LOCALHOST:8000/", True),
    ("https://example.com", True),
    ("http://127.0.0.1:{port}", True),  # the server's own origin
    ("https://evil.example", False),
    ("https://example.com.evil.test", False),  # lookalikes
    ("https://evil-example.com", False),
    ("https://sub.example.com", False),
    ("http://localhost.evil.example", False),
    ("http://localhost:8000.evil.example", False),
    ("http://localhost:8000@evil.example", False),
    ("http://evil.example/http://localhost:8000", False),
    ("http://127.0.0.1:1{port}", False),
    ("http://example.com", False),  # another scheme
    ("https://localhost:8000", False),
    ("https://example.com:8443", False),  # another port
    ("http://localhost:8000, https://evil.example", False),
    ("null", False),  # sandboxed frames, file: pages
    ("", False),
]


@pytest.mark.settings(realtime=ORIGINS)
@pytest.mark.parametrize(("origin", "allowed"), ORIGIN_CASES)
async def test_origin_allow_list(ws_port: int, origin: str | None, allowed: bool) -> None:
    """Allowed Origins (exact, or the server's own) upgrade; any other is HTTP 403 before
    the upgrade, and a client already connected is not affected."""
    headers = [] if origin is None else [(b"Origin", origin.format(port=ws_port).encode())]
    url = f"ws://127.0.0.1:{ws_port}/ws"
    async with open_websocket_url(url) as bystander:
        if allowed:
            async with open_websocket_url(url, extra_headers=headers) as socket:
                await socket.send_message("{}")
                assert "unknown request type" in str(await socket.get_message())
        else:
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(url, extra_headers=headers):
                    pass
            assert rejected.value.status_code == 403
            assert rejected.value.body == b"origin not allowed"
        await bystander.send_message("{}")
        assert "unknown request type" in str(await bystander.get_message())


@pytest.mark.settings(realtime=ORIGINS)
@pytest.mark.parametrize(("origin", "allowed"), ORIGIN_CASES)
async def test_origin_allow_list_on_socketio_polling(
    server: Running, http: httpx.AsyncClient, origin: str | None, allowed: bool
) -> None:
    """Engine.IO's polling requests follow the same list: 403 `Forbidden` (code 4) and no
    CORS headers for an Origin not allowed; CORS headers naming an allowed one."""
    headers = {} if origin is None else {"Origin": origin.format(port=server.http_port)}
    response = await http.get(
        "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=headers
    )
    if allowed:
        assert response.status_code == 200 and response.text.startswith("0{")
        assert response.headers.get("access-control-allow-origin") == headers.get("Origin")
    else:
        assert (response.status_code, response.json()) == (403, {"code": 4, "message": "Forbidden"})
        assert "access-control-allow-origin" not in response.headers


async def test_unknown_paths_are_not_upgraded(ws_port: int) -> None:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(f"ws://127.0.0.1:{ws_port}/nowhere"):
            pass
    assert rejected.value.status_code == 404


# On the autojump clock (so no worker threads): the bucket refills in virtual time.
@pytest.mark.settings(
    realtime={"rate_per_second": 2.0, "rate_burst": 3}, server={"worker_threads": False}
)
async def test_message_rate_is_limited_per_connection(
    autojump_clock: trio.testing.MockClock,
    http: httpx.AsyncClient,
    config: settings.Settings,
    ws_port: int,
) -> None:
    """Past the burst, a message is answered `too many requests` (request id "") and
    dropped: not applied. The bucket refills at the rate; the connection stays open; the
    same user's other connection has its own bucket."""
    tokens = await register(http)
    user_id = user_id_of(tokens)
    prepare_player(config.storage.path, user_id, {1: 1})
    async with (
        connect(ws_port, tokens["access_token"]) as flooder,  # its first message
        connect(ws_port, tokens["access_token"], session=False) as calm,
    ):
        for n in range(1, 6):
            await flooder.send("cook", f"f{n}")
        answers = [await flooder.receive() for _ in range(5)]
        assert [(a["request_id"], a["data"]) for a in answers] == [
            ("f1", {"dishes": 1, "xp": 1}),
            ("f2", {"dishes": 2, "xp": 2}),
            *[("", {"message": "too many requests"})] * 3,
        ]
        await calm.request("session")  # its own bucket: a burst of three
        assert (await flooder.receive())["request_type"] == "session"
        for n in (3, 4):
            assert await calm.request("cook", f"c{n}") == {"dishes": n, "xp": n}
            assert (await flooder.receive())["data"] == {"dishes": n, "xp": n}
        await trio.sleep(0.5)  # one message's worth for the flooder
        assert await flooder.request("cook", "f6") == {"dishes": 5, "xp": 5}
        await flooder.send("cook", "f7")
        assert (await flooder.receive())["data"] == {"message": "too many requests"}
        assert (await calm.receive())["request_id"] == "f6"
        await calm.silent()
    assert stored_player(config.storage.path, user_id)["dishes"] == 5


@pytest.mark.settings(realtime={"max_connections_per_user": 2})
async def test_connections_per_user_are_capped(
    http: httpx.AsyncClient, config: settings.Settings, server: Running, ws_port: int
) -> None:
    """A user's third connection, whichever ports the first two use, is answered `too many
    connections` and closed with 1008; the other two play on, another user is not capped,
    and a closed connection frees its place."""
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    token = alice["access_token"]
    async with connect(server.ws_port, token) as first:
        async with (
            connect(server.http_port, token) as second,
            connect(ws_port, token, session=False) as third,
        ):
            assert await third.error("session") == "too many connections"
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
                await third.socket.get_message()
            assert close_code(closed.value) == 1008
            assert (await first.receive())["request_type"] == "session"  # second's
            assert await second.request("cook") == {"dishes": 1, "xp": 1}
            assert (await first.receive())["data"] == {"dishes": 1, "xp": 1}
            async with connect(ws_port, bob["access_token"]) as other:
                assert await other.request("cook") == {"dishes": 1, "xp": 1}
        async with connect(ws_port, token) as again:  # second's place
            assert (await first.receive())["request_type"] == "session"
            # (a request id of its own: "r2" was second's cook, whose retry would answer)
            assert await again.request("cook", "again-1") == {"dishes": 2, "xp": 2}


def _request_of_size(token: str, size: int, pad: str, request_type: str = "cook") -> str:
    """A clicker request of exactly `size` UTF-8 bytes: padded with as many `pad`
    characters as fit, then with spaces."""
    frame = {"message_type": "request", "request_id": "big", "request_type": request_type}
    bare = json.dumps({**frame, "data": {"token": token}, "pad": ""}, ensure_ascii=False)
    room = size - len(bare.encode())
    padding = pad * (room // len(pad.encode()))
    text = json.dumps({**frame, "data": {"token": token}, "pad": padding}, ensure_ascii=False)
    text += " " * (size - len(text.encode()))
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("pad", ["é", "\N{GRINNING FACE}"])  # 2 and 4 bytes in UTF-8
async def test_the_message_limit_counts_bytes_not_characters(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int, pad: str
) -> None:
    """A text message of exactly `max_message_bytes` UTF-8 bytes is served; one byte more
    closes with 1009, however few characters it is; another client is not affected."""
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    limit = config.realtime.max_message_bytes
    assert limit == 65536
    async with connect(ws_port, bob["access_token"]) as other:
        async with connect(ws_port, alice["access_token"]) as player:
            await player.socket.send_message(_request_of_size(alice["access_token"], limit, pad))
            assert (await player.receive())["data"] == {"dishes": 1, "xp": 1}
            oversize = _request_of_size(alice["access_token"], limit + 1, pad)
            assert len(oversize) < limit  # in characters
            await player.socket.send_message(oversize)
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
                await player.socket.get_message()
            assert close_code(closed.value) == 1009
        assert await other.request("cook") == {"dishes": 1, "xp": 1}


@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_the_message_limit_counts_every_fragment(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int, kind: str
) -> None:
    """A message sent in 1 KiB fragments counts whole: exactly the limit is served, one byte
    more closes with 1009; another client is not affected."""
    alice, bob = await register(http), await register(http)
    for tokens in (alice, bob):
        prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    limit = config.realtime.max_message_bytes

    async def send_in_fragments(socket: RawWebSocket, text: str) -> None:
        data = text.encode()
        for start in range(0, len(data), 1024):
            last = start + 1024 >= len(data)
            chunk = data[start : start + 1024]
            event: wsproto.events.Event = (
                wsproto.events.TextMessage(chunk.decode(), message_finished=last)
                if kind == "text"
                else wsproto.events.BytesMessage(chunk, message_finished=last)
            )
            await socket.send(event)

    async with connect(ws_port, bob["access_token"]) as other:
        async with raw_websocket(ws_port, "/ws") as player:
            for size in (limit, limit + 1):
                request = _request_of_size(alice["access_token"], size, "a", "session")
                await send_in_fragments(player, request)
                with trio.fail_after(5):
                    answer = await player.receive()
                if size == limit:
                    assert isinstance(answer, wsproto.events.TextMessage), answer
                    assert json.loads(answer.data)["request_type"] == "session"
                else:
                    assert isinstance(answer, wsproto.events.CloseConnection), answer
                    assert answer.code == 1009
        assert await other.request("cook") == {"dishes": 1, "xp": 1}
