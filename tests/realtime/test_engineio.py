"""Engine.IO and Socket.IO protocol edges and abuse, with raw HTTP and WebSocket clients:
the documented status or close, and nothing else affected."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, open_websocket_url

from realtime.engineio import EngineOptions, EngineServer, EngineSession
from realtime.keepalive import PINGS_PER_TURN
from realtime.transport import ConnectionClosed as TransportClosed
from realtime.transport import Handshake, Message, Messages
from server import Running
from tests.clients import close_code
from tests.sio_clients import PATH, open_namespace, receive_packet

FAST = {"socketio": {"ping_interval": 0.2, "ping_timeout": 0.2}}


async def test_polling_handshakes(server: Running, http: httpx.AsyncClient) -> None:
    four = await http.get(PATH, params={"EIO": "4", "transport": "polling"})
    assert four.status_code == 200 and four.headers["content-type"].startswith("text/plain")
    handshake = json.loads(four.text[1:])
    assert four.text[0] == "0"
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert (handshake["upgrades"], handshake["pingInterval"], handshake["pingTimeout"]) == (
        ["websocket"],
        25000,
        20000,
    )
    assert handshake["maxPayload"] == 65536
    three = await http.get(PATH, params={"EIO": "3", "transport": "polling"})
    match = re.fullmatch(r"(\d+):(0.*)", three.text)
    assert match and int(match.group(1)) == len(match.group(2))
    assert "maxPayload" not in json.loads(match.group(2)[1:])
    connect = await http.get(
        PATH,
        params={"EIO": "3", "transport": "polling", "sid": json.loads(match.group(2)[1:])["sid"]},
    )
    assert connect.text == "2:40"  # protocol 4: connected to "/" by the server


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"EIO": "4", "transport": "polling", "sid": "nope"}, 1, "Session ID unknown"),
        ({"EIO": "5", "transport": "polling"}, 5, "Unsupported protocol version"),
        ({"transport": "polling"}, 5, "Unsupported protocol version"),
        ({"EIO": "4", "transport": "flashsocket"}, 0, "Transport unknown"),
    ],
)
async def test_refused_polling_requests(
    server: Running, http: httpx.AsyncClient, params: dict[str, str], code: int, message: str
) -> None:
    response = await http.get(PATH, params=params)
    assert (response.status_code, response.json()) == (400, {"code": code, "message": message})
    posted = await http.post(PATH, params=params, content="4x")
    assert posted.status_code == 400


async def test_a_second_waiting_get_is_refused(server: Running, http: httpx.AsyncClient) -> None:
    sid = json.loads((await http.get(PATH, params={"EIO": "4", "transport": "polling"})).text[1:])[
        "sid"
    ]
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    await http.post(PATH, params=params, content="40")
    assert (await http.get(PATH, params=params)).text.startswith('40{"sid":')
    first: list[httpx.Response] = []
    async with trio.open_nursery() as nursery:

        async def wait() -> None:
            first.append(await http.get(PATH, params=params))

        nursery.start_soon(wait)
        await trio.sleep(0.2)
        second = await http.get(PATH, params=params)
        assert (second.status_code, second.json()["code"]) == (400, 3)
    assert first[0].text == "1"  # the session is closed: the waiting GET hears so
    assert (await http.get(PATH, params=params)).json()["code"] == 1


async def test_oversized_and_malformed_posts_end_the_session(
    server: Running, http: httpx.AsyncClient
) -> None:
    for version, body, status in (
        ("4", "4" + "x" * 70_000, 413),
        ("3", "zz:4abc", 400),
        ("3", "9:4", 400),
    ):
        opened = await http.get(PATH, params={"EIO": version, "transport": "polling"})
        sid = json.loads(opened.text[opened.text.index("{") :])["sid"]
        params = {"EIO": version, "transport": "polling", "sid": sid}
        assert (await http.post(PATH, params=params, content=body)).status_code == status
        assert (await http.get(PATH, params=params)).json()["code"] == 1


@pytest.mark.parametrize("port_name", ["http", "listener"])
async def test_garbage_over_the_websocket(server: Running, port_name: str) -> None:
    port = server.http_port if port_name == "http" else server.ws_port
    url = f"ws://127.0.0.1:{port}{PATH}?EIO=4&transport=websocket"
    async with open_websocket_url(url) as socket, open_websocket_url(url) as bystander:
        await open_namespace(socket)
        await open_namespace(bystander)
        for packet in ("4garbage", '42["auth"', "42{}", "42[5, {}]"):
            await socket.send_message(packet)
            assert await receive_packet(socket) == (
                '42["socket-api-error",{"event":"","message":"Invalid packet format"}]'
            ), packet
        await socket.send_message('42["auth",{"transaction":"b"}]')  # no token
        assert await receive_packet(socket) == '42["socket-api-error-b","Access token is required"]'
        assert await receive_packet(socket) == (
            '42["socket-api-error",{"event":"auth","message":"Access token is required"}]'
        )
        # A binary event: an error, its attachment dropped, the socket still serving.
        await socket.send_message('451-["auth",{"_placeholder":true,"num":0}]')
        await socket.send_message(b"\x00\x01\x02")
        unsupported = {"event": "auth", "message": "Binary attachments are not supported"}
        assert await receive_packet(socket) == "42" + json.dumps(
            ["socket-api-error", unsupported], separators=(",", ":")
        )
        await socket.send_message("40/admin,")
        assert await receive_packet(socket) == '44/admin,{"message":"Invalid namespace"}'
        await socket.send_message('42["nobody-listens"]')
        await socket.send_message('421["auth",{"transaction":"c"}]')  # with an ack id
        assert await receive_packet(socket) == '42["socket-api-error-c","Access token is required"]'
        assert await receive_packet(socket) == (
            '42["socket-api-error",{"event":"auth","message":"Access token is required"}]'
        )
        assert await receive_packet(socket) == '431[{"error":"Access token is required"}]'
        # Abuse closes: an unknown Engine.IO packet type; too many attachments.
        await socket.send_message("9")
        with pytest.raises(ConnectionClosed), trio.fail_after(5):
            while True:
                await socket.get_message()
        await bystander.send_message('4511-["auth",{}]')
        with pytest.raises(ConnectionClosed), trio.fail_after(5):
            while True:
                await bystander.get_message()
    async with open_websocket_url(url) as fresh:
        await open_namespace(fresh)  # the server serves on


async def test_oversized_websocket_messages_close_with_1009(server: Running) -> None:
    url = f"ws://127.0.0.1:{server.ws_port}{PATH}?EIO=4&transport=websocket"
    async with open_websocket_url(url) as socket:
        await open_namespace(socket)
        await socket.send_message('42["auth","' + "x" * 70_000 + '"]')
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            while True:
                await socket.get_message()
        assert close_code(closed.value) == 1009


@pytest.mark.settings(**FAST)
async def test_a_client_that_stops_answering_pings_is_dropped(server: Running) -> None:
    url = f"ws://127.0.0.1:{server.ws_port}{PATH}?EIO=4&transport=websocket"
    async with open_websocket_url(url) as socket:
        await open_namespace(socket)
        start = trio.current_time()
        with pytest.raises(ConnectionClosed), trio.fail_after(5):
            while True:
                assert await socket.get_message() == "2"  # never answered
        assert trio.current_time() - start < 0.2 + 0.2 + 0.5


async def test_an_upgrade_with_an_unknown_sid_is_refused(server: Running) -> None:
    url = f"ws://127.0.0.1:{server.ws_port}{PATH}?EIO=4&transport=websocket&sid=nope"
    async with open_websocket_url(url) as socket:
        with pytest.raises(ConnectionClosed), trio.fail_after(5):
            await socket.get_message()


async def test_every_get_during_an_upgrade_is_released(
    server: Running, http: httpx.AsyncClient
) -> None:
    """A client that polled again before it read `3probe` (engine.io-client 2 does when the
    noop's GET completes first) waits for that GET before it sends `5`: the GET must come
    back at once, or the upgrade fails and the client, its polling paused, times out."""
    opened = await http.get(PATH, params={"EIO": "3", "transport": "polling"})
    sid = json.loads(opened.text[opened.text.index("{") :])["sid"]
    params = {"EIO": "3", "transport": "polling", "sid": sid}
    assert (await http.get(PATH, params=params)).text == "2:40"
    url = f"ws://127.0.0.1:{server.http_port}{PATH}?EIO=3&transport=websocket&sid={sid}"
    released_in, released = trio.open_memory_channel[str](1)
    async with open_websocket_url(url) as socket, trio.open_nursery() as nursery:

        async def poll() -> None:
            await released_in.send((await http.get(PATH, params=params)).text)

        nursery.start_soon(poll)
        await trio.sleep(0.1)  # the GET is waiting
        await socket.send_message("2probe")
        assert await socket.get_message() == "3probe"
        with trio.fail_after(1):
            assert await released.receive() == "1:6"
            assert (await http.get(PATH, params=params)).text == "1:6"
        await socket.send_message("5")
        await socket.send_message("2")
        assert await socket.get_message() == "3"
        assert (await http.get(PATH, params=params)).json()["code"] == 3  # polling is over
        assert (await http.post(PATH, params=params, content="1:2")).json()["code"] == 3
        await socket.send_message('42["auth",{}]')  # the session reads its socket now
        assert await receive_packet(socket) == (
            '42["socket-api-error",{"event":"auth","message":"Access token is required"}]'
        )


async def test_a_polling_session_keeps_its_handshake_without_the_headers() -> None:
    """A polling session lives across many requests; its opening request's headers were for
    admission only. Pass: the session served keeps the path and query, and no header."""
    served: list[EngineSession] = []

    async def serve(session: EngineSession) -> None:
        served.append(session)
        await trio.sleep_forever()

    engine = EngineServer(PATH, EngineOptions(25.0, 20.0, 1_000_000), serve)
    query = {"EIO": "4", "transport": "polling"}
    opening = Handshake(PATH, query, {"user-agent": "x" * 500}, "127.0.0.1:1")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            await trio.testing.wait_all_tasks_blocked()
            await engine.polling_get(query, opening)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    (session,) = served
    assert (session.handshake.path, dict(session.handshake.query)) == (PATH, query)
    assert dict(session.handshake.headers) == {}


@pytest.mark.settings(realtime={"max_connections_per_user": 1})
@pytest.mark.parametrize("port_name", ["http", "listener"])
async def test_a_closed_websocket_ends_its_session_at_once(
    server: Running, http: httpx.AsyncClient, port_name: str
) -> None:
    """A WebSocket closed without Engine.IO's close packet (a client killed, say) ends its
    session at once, not a heartbeat (45 s) later: the user's one connection slot is free
    for the reconnect."""
    port = server.http_port if port_name == "http" else server.ws_port
    url = f"ws://127.0.0.1:{port}{PATH}?EIO=4&transport=websocket"
    signup = {"user": {"email": f"{port_name}@example.com", "password": "correct horse"}}
    user = (await http.post("/signup", json=signup)).json()["user"]
    for _ in range(2):
        async with open_websocket_url(url) as socket:
            await open_namespace(socket)
            await socket.send_message(json_packet("auth", {"token": user["accessToken"]}))
            assert await receive_packet(socket) == json_packet(
                "auth-success", {"userId": user["id"], "transaction": None}
            )


def json_packet(event: str, data: object) -> str:
    return "42" + json.dumps([event, data], separators=(",", ":"))


class Socket:
    """A WebSocket as Engine.IO sees it: what the server sends goes to `to_client` (and is
    kept in `sent`), what the test sends to `from_client`. `gone`: the client left before
    anything was sent; `takes_nowait`: whether `send_nowait` takes what it is given;
    `breaks_on_ping`: `send` fails on a ping as no transport should."""

    pings = True
    awaiting_pong = False
    backlogged = False

    def __init__(
        self, *, gone: bool = False, takes_nowait: bool = False, breaks_on_ping: bool = False
    ) -> None:
        self.gone = gone
        self.takes_nowait = takes_nowait
        self.breaks_on_ping = breaks_on_ping
        self.sent: list[Message] = []
        self.closed_with: tuple[int, str] | None = None
        self.from_client, self._received = trio.open_memory_channel[Message](math.inf)
        self._to_client, self.to_client = trio.open_memory_channel[Message](math.inf)

    async def receive(self) -> Message:
        try:
            return await self._received.receive()
        except trio.EndOfChannel:
            raise TransportClosed from None

    async def send(self, *messages: Message) -> None:
        if self.gone:
            raise TransportClosed
        if self.breaks_on_ping and "2" in messages:
            raise RuntimeError("broken transport")
        for message in messages:
            self.sent.append(message)
            self._to_client.send_nowait(message)

    def send_nowait(self, messages: Messages) -> bool:
        assert isinstance(messages, str)  # the heartbeat's ping, here
        if self.takes_nowait:
            self.sent.append(messages)
            self._to_client.send_nowait(messages)
        return self.takes_nowait

    def ping(self) -> None:
        pass

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        await self.abort()

    async def abort(self) -> None:
        self.from_client.close()
        self._to_client.close()


WEBSOCKET_QUERY = {"EIO": "4", "transport": "websocket"}


async def _serve_on(
    socket: Socket,
    serve: Callable[[EngineSession], Awaitable[None]],
    query: dict[str, str] = WEBSOCKET_QUERY,
) -> EngineServer:
    """Serve `socket`, in this task, as a WebSocket opened on a running Engine.IO server
    (pingInterval 25 s, pingTimeout 20 s) whose sessions `serve` serves; the server, once
    the socket is done."""
    engine = EngineServer(PATH, EngineOptions(25.0, 20.0, 1_000_000), serve)
    with trio.fail_after(200):  # virtual seconds, in the heartbeat's tests
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            await trio.testing.wait_all_tasks_blocked()
            await engine.serve(socket, Handshake(PATH, query, {}, "127.0.0.1:1"))
            nursery.cancel_scope.cancel()
    return engine


async def _read_until_closed(session: EngineSession) -> None:
    with contextlib.suppress(TransportClosed):
        while True:
            await session.receive()


async def test_a_session_opened_on_its_websocket_runs_in_that_sockets_task() -> None:
    """Pass: the session's connection runs in the task that serves the socket, after the
    open packet, with no nursery of its own (the heartbeat is one task for all sessions)
    and none of a polling session's state (its task's cancel scope and end event); once
    it returns the socket is closed (1000) and the session forgotten."""
    served: list[tuple[trio.lowlevel.Task, int, list[Message]]] = []
    socket = Socket()

    async def serve(session: EngineSession) -> None:
        task = trio.lowlevel.current_task()
        served.append((task, len(task.child_nurseries), list(socket.sent)))
        assert (session.tasks, session.finished, session._inbox) == (None, None, None)

    before = len(trio.lowlevel.current_task().child_nurseries)
    engine = await _serve_on(socket, serve)
    ((task, nurseries, sent_before),) = served
    assert task is trio.lowlevel.current_task()
    assert nurseries == before + 1  # `_serve_on`'s
    assert [message[:8] for message in sent_before] == ['0{"sid":']
    assert socket.closed_with == (1000, "")
    assert engine._sessions == {}


async def test_a_websocket_gone_before_its_open_packet_leaves_no_session() -> None:
    """The client left before the open packet could be sent. Pass: no connection served,
    no session kept."""
    served: list[EngineSession] = []

    async def serve(session: EngineSession) -> None:
        served.append(session)

    engine = await _serve_on(Socket(gone=True), serve)
    assert served == [] and engine._sessions == {}


@pytest.mark.parametrize("takes_nowait", [True, False])
async def test_an_eio4_session_is_pinged_every_interval_and_dropped_when_silent(
    autojump_clock: trio.testing.MockClock, takes_nowait: bool
) -> None:
    """The client answers three pings, then none. Pass: pings at 25, 50, 75 and 100 s
    (open at 0, pingInterval 25 s), the session dropped at 120 (pingTimeout 20 s after the
    unanswered ping): both when the socket takes the ping at once and when it must wait."""
    socket = Socket(takes_nowait=takes_nowait)
    pinged: list[float] = []

    async def client() -> None:
        async for message in socket.to_client:
            if message == "2":
                pinged.append(trio.current_time())
                if len(pinged) <= 3:
                    socket.from_client.send_nowait("3")
        dropped.append(trio.current_time())

    dropped: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        await _serve_on(socket, _read_until_closed)
    assert pinged == [25.0, 50.0, 75.0, 100.0]
    assert dropped == [120.0]
    assert socket.closed_with == (1000, "")


async def test_a_sweep_after_the_loop_was_held_drops_nobody(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """EIO 4: the client answers the pings at 25, 50 and 75 s. The loop is then held from
    the ping at 100 until 125, past that ping's timeout (120), and its pong is read only
    after the sweep the hold delayed. Pass: that sweep drops nobody; the session is pinged
    again at 130 and, silent from then on, dropped at 150."""
    socket = Socket(takes_nowait=True)
    pinged: list[float] = []
    dropped: list[float] = []

    async def client() -> None:
        async for message in socket.to_client:
            if message != "2":
                continue
            pinged.append(trio.current_time())
            if len(pinged) == 4:
                autojump_clock.jump(25)  # held, as a stalled disk or a paused process holds it
                await trio.sleep(0.5)
            if len(pinged) <= 4:
                socket.from_client.send_nowait("3")
        dropped.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        await _serve_on(socket, _read_until_closed)
    assert pinged == [25.0, 50.0, 75.0, 100.0, 130.0]
    assert dropped == [150.0]


async def test_an_eio3_session_is_dropped_after_interval_and_timeout_of_silence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """EIO 3: the client pings, at 24 and 48 s, then falls silent. Pass: each ping is
    answered, the server pings none itself, and the session is dropped pingInterval +
    pingTimeout (45 s) after the last ping, or at most a beat's step (5 s) later."""
    socket = Socket()
    received: list[tuple[float, Message]] = []

    async def client() -> None:
        for at in (24.0, 48.0):
            await trio.sleep_until(at)
            socket.from_client.send_nowait("2")

    async def read() -> None:
        async for message in socket.to_client:
            received.append((trio.current_time(), message))
        received.append((trio.current_time(), "dropped"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        nursery.start_soon(read)
        await _serve_on(socket, _read_until_closed, {"EIO": "3", "transport": "websocket"})
    (opened_at, open_packet), *heartbeat, (dropped_at, last) = received
    assert (opened_at, open_packet[:8], last) == (0.0, '0{"sid":', "dropped")
    assert heartbeat == [(24.0, "3"), (48.0, "3")]
    assert 48.0 + 45.0 <= dropped_at <= 48.0 + 45.0 + 5.0


async def test_a_ping_the_transport_fails_ends_only_its_session(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The socket cannot take the ping at once, and raises when sent it. Pass: the
    session ends at the ping (25 s), logged, and the Engine.IO server (the nursery the
    ping was sent from, which holds every polling session) goes on."""
    socket = Socket(breaks_on_ping=True)
    ended: list[float] = []

    async def serve(session: EngineSession) -> None:
        await _read_until_closed(session)
        ended.append(trio.current_time())

    await _serve_on(socket, serve)
    assert ended == [25.0]
    assert "ping failed" in caplog.text


async def test_a_ping_sent_after_the_sweeps_pause_gets_its_whole_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One more silent session than a sweep pings in one turn, all opened at 0. Pass: the
    sessions of the first turn, pinged at 25 s, are dropped at 45 (pingTimeout later); the
    last, pinged after the turn's pause, only at the next sweep (50): its 20 s count from
    its own ping."""
    engine = EngineServer(PATH, EngineOptions(25.0, 20.0, 1_000_000), _read_until_closed)
    ended: list[float] = []

    async def serve(socket: Socket) -> None:
        await engine.serve(socket, Handshake(PATH, WEBSOCKET_QUERY, {}, "127.0.0.1:1"))
        ended.append(trio.current_time())

    with trio.fail_after(200):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            await trio.testing.wait_all_tasks_blocked()
            async with trio.open_nursery() as clients:
                for _ in range(PINGS_PER_TURN + 1):
                    clients.start_soon(serve, Socket(takes_nowait=True))
            nursery.cancel_scope.cancel()
    assert sorted(ended) == [45.0] * PINGS_PER_TURN + [50.0]
