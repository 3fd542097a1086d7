"""Test clients: the clicker's REST calls and its `/ws` envelope, over real sockets."""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
import wsproto
import wsproto.events
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

RECEIVE_TIMEOUT = 10.0
_emails = itertools.count(1)


async def register(http: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    """A new user's tokens."""
    email = email or f"player{next(_emails)}@example.com"
    response = await http.post("/reg", json={"email": email, "password": "correct horse"})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()["tokens"]
    return tokens


class Player:
    """One `/ws` connection speaking the clicker's envelope."""

    def __init__(self, socket: WebSocketConnection, token: str) -> None:
        self.socket = socket
        self.token = token
        self._ids = itertools.count(1)

    async def send(self, request_type: str, request_id: str | None = None, **data: Any) -> str:
        request_id = request_id if request_id is not None else f"r{next(self._ids)}"
        await self.socket.send_message(
            json.dumps(
                {
                    "message_type": "request",
                    "request_id": request_id,
                    "request_type": request_type,
                    "data": {"token": self.token, **data},
                }
            )
        )
        return request_id

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(RECEIVE_TIMEOUT):
            frame: dict[str, Any] = json.loads(await self.socket.get_message())
        return frame

    async def request(self, request_type: str, request_id: str | None = None, **data: Any) -> Any:
        """Send a request; return its response's data (asserting the envelope)."""
        request_id = await self.send(request_type, request_id, **data)
        frame = await self.receive()
        assert frame["message_type"] == "response"
        assert frame["request_id"] == request_id, frame
        assert frame["request_type"] == request_type, frame
        return frame["data"]

    async def error(self, request_type: str, request_id: str | None = None, **data: Any) -> str:
        """Send a request that must fail; return the error message."""
        request_id = await self.send(request_type, request_id, **data)
        frame = await self.receive()
        assert frame["request_type"] == "error", frame
        assert frame["request_id"] == request_id, frame
        message: str = frame["data"]["message"]
        return message

    async def silent(self, seconds: float = 0.2) -> None:
        """Assert that nothing arrives for `seconds`."""
        with trio.move_on_after(seconds):
            frame = await self.socket.get_message()
            raise AssertionError(f"unexpected frame {frame!r}")


@asynccontextmanager
async def connect(port: int, token: str, *, session: bool = True) -> AsyncIterator[Player]:
    async with open_websocket_url(f"ws://127.0.0.1:{port}/ws") as socket:
        player = Player(socket, token)
        if session:
            await player.request("session")
        yield player


def user_id_of(tokens: dict[str, str]) -> int:
    """The user id inside an access token (its `id` claim)."""
    import jwt

    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return int(claims["id"])


def prepare_player(
    database: str, user_id: int, owned: dict[int, int] | None = None, **columns: float
) -> None:
    """Write a player's game straight into the database, before its first session loads it."""
    import sqlite3

    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT OR IGNORE INTO clicker_players (user_id) VALUES (?)", (user_id,))
        for column, value in columns.items():
            connection.execute(
                f"UPDATE clicker_players SET {column} = ? WHERE user_id = ?", (value, user_id)
            )
        for upgrade_id, times in (owned or {}).items():
            connection.execute(
                "INSERT INTO clicker_owned (user_id, upgrade_id, times_bought) VALUES (?, ?, ?)",
                (user_id, upgrade_id, times),
            )
        connection.execute("COMMIT")
    finally:
        connection.close()


def stored_player(database: str, user_id: int) -> dict[str, Any]:
    """A player's row and bought upgrades as committed in the database."""
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        connection.row_factory = sqlite3.Row
        row = connection.execute(
            "SELECT * FROM clicker_players WHERE user_id = ?", (user_id,)
        ).fetchone()
        owned = dict(
            connection.execute(
                "SELECT upgrade_id, times_bought FROM clicker_owned WHERE user_id = ?", (user_id,)
            ).fetchall()
        )
    finally:
        connection.close()
    return {**dict(row), "owned": owned}


def close_code(closed: ConnectionClosed) -> int | None:
    """The close code the server sent, if any."""
    return closed.reason.code if closed.reason is not None else None


class RawWebSocket:
    """A WebSocket client on wsproto itself: it sends what trio-websocket will not (message
    fragments, exact frames), answers no pings by itself, and shows every event."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.protocol = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._events: deque[wsproto.events.Event] = deque()
        self.reset = False  # the stream ended with a reset (ECONNRESET), not an EOF
        self.accepted: wsproto.events.AcceptConnection | None = None  # the server's 101

    async def send(self, event: wsproto.events.Event) -> None:
        await self.stream.send_all(self.protocol.send(event))

    async def next_event(self) -> wsproto.events.Event | None:
        """The next event from the server; None once it has closed the TCP stream."""
        while not self._events:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset by the peer
                self.reset = True
                data = b""
            if not data:
                return None
            self.protocol.receive_data(data)
            self._events.extend(self.protocol.events())
        return self._events.popleft()

    async def receive(self) -> wsproto.events.Event | None:
        """The next event that is not a ping or a pong (pings are answered)."""
        while True:
            event = await self.next_event()
            if isinstance(event, wsproto.events.Ping):
                await self.send(event.response())
            elif not isinstance(event, wsproto.events.Pong):
                return event

    async def closed_with(self) -> int | None:
        """Read until the server's close frame; its code (None if the stream just ended)."""
        while True:
            event = await self.next_event()
            if event is None:
                return None
            if isinstance(event, wsproto.events.CloseConnection):
                return event.code


@asynccontextmanager
async def raw_websocket(
    port: int, target: str, *, after_request: bool = False
) -> AsyncIterator[RawWebSocket]:
    """An accepted WebSocket on `target`, driven by hand; with `after_request`, opened on a
    connection that has first been answered a `GET /status` (on the HTTP port, such an
    upgrade is Hypercorn's to serve, not the listener code's)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        if after_request:
            await stream.send_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"\r\n\r\nOK"):
                answer += await stream.receive_some(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
        socket = RawWebSocket(stream)
        await socket.send(wsproto.events.Request(host="127.0.0.1", target=target))
        accepted = await socket.next_event()
        assert isinstance(accepted, wsproto.events.AcceptConnection), accepted
        socket.accepted = accepted
        yield socket


async def race(
    players: list[Player], per_player: int, request_type: str, prefix: str = "", **data: Any
) -> dict[str, dict[str, Any]]:
    """Every player (connections of one user) sends `per_player` requests at once, with ids
    `<prefix><player>-<n>` (a user's ids must differ from race to race: a repeated one is a
    retry). Returns the answer to each, by id. Checks the delivery on the way: a success
    reaches every connection of the user, an error only the requester, and nothing else
    arrives."""
    answers: dict[str, dict[str, Any]] = {}
    seen: list[list[str]] = [[] for _ in players]  # ids of the successes each one got

    async def send_and_collect(index: int, player: Player) -> None:
        own = {f"{prefix}{index}-{n}" for n in range(per_player)}
        for request_id in sorted(own):
            await player.send(request_type, request_id, **data)
        while own - answers.keys():
            frame = await player.receive()
            if frame["request_type"] != "error":
                seen[index].append(frame["request_id"])
            if frame["request_id"] in own:
                answers[frame["request_id"]] = frame

    async with trio.open_nursery() as nursery:
        for index, player in enumerate(players):
            nursery.start_soon(send_and_collect, index, player)
    successes = sorted(i for i, frame in answers.items() if frame["request_type"] != "error")

    async def rest_of_the_successes(index: int, player: Player) -> None:
        while len(seen[index]) < len(successes):
            seen[index].append((await player.receive())["request_id"])
        await player.silent(0.05)

    async with trio.open_nursery() as nursery:
        for index, player in enumerate(players):
            nursery.start_soon(rest_of_the_successes, index, player)
    assert all(sorted(ids) == successes for ids in seen), (seen, successes)
    return answers
