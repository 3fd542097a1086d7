"""HTTP/1.1 connections on the HTTP port: kept between requests, closed after an answer
that left the request's body unread, and closed once idle for the keep-alive timeout
(Hypercorn's `keep_alive_timeout`, 5 s). An answer is written at once. A connection
opened for a WebSocket is served by the listener's code, and one that resets while its
first head is read hurts no one."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, cast

import h11
import pytest
import trio
import trio.testing
import wsproto.events
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from realtime.echo import PATH as ECHO_PATH
from server import Running
from tests.clients import raw_websocket
from tests.sio_clients import PATH

KEEP_ALIVE_TIMEOUT = 5.0


class Client:
    """One HTTP/1.1 connection, driven with h11: a request, then its whole answer."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    async def exchange(
        self, method: str, target: str, body_length: int = 0
    ) -> tuple[h11.Response, bytes]:
        """Send a request (with only the headers of a body of `body_length` bytes, if one
        is declared) and read its answer."""
        headers = [("Host", "127.0.0.1")]
        if body_length:
            headers.append(("Content-Length", str(body_length)))
        request = h11.Request(method=method, target=target, headers=headers)
        sent = self.h11.send(request)
        await self.stream.send_all(
            sent + (b"" if body_length else self.h11.send(h11.EndOfMessage()))
        )
        response: h11.Response | None = None
        answer = b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                answer += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, answer

    def next_cycle(self) -> None:
        self.h11.start_next_cycle()

    async def closed_by_server(self) -> bool:
        """Whether the server ends the connection (EOF or reset) without a word more."""
        try:
            return await self.stream.receive_some(65536) == b""
        except trio.BrokenResourceError:
            return True


def _connection_header(response: h11.Response) -> bytes | None:
    return next((value for name, value in response.headers if name == b"connection"), None)


async def test_requests_without_a_body_keep_the_connection(server: Running) -> None:
    """A GET declares no body, so nothing is left unread: the connection is kept and serves
    the next request (every GET was answered `Connection: close` before 2026-12-02)."""
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", server.http_port) as stream:
            client = Client(stream)
            for _ in range(3):
                response, body = await client.exchange("GET", "/status")
                assert (response.status_code, body) == (200, b"OK")
                assert _connection_header(response) is None
                client.next_cycle()


async def test_an_answer_before_the_body_is_read_closes_the_connection(server: Running) -> None:
    """A 404 to a POST whose body has not arrived is answered at once, without it: the
    answer says `Connection: close`, and once the body comes the server closes, answering
    nothing more (the body here would read as a request of its own)."""
    body = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", server.http_port) as stream:
            client = Client(stream)
            response, _ = await client.exchange("POST", "/nowhere", body_length=len(body))
            assert response.status_code == 404
            assert _connection_header(response) == b"close"
            await stream.send_all(body)
            assert await client.closed_by_server()


# No worker threads: the autojump clock would jump while one works.
@pytest.mark.settings(server={"worker_threads": False})
async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    autojump_clock: trio.testing.MockClock, server: Running
) -> None:
    """Each answer starts a new idle period: requests 4 s apart keep the connection past
    the 5 s timeout, and 5 s of silence after the last answer close it."""
    with trio.fail_after(60):
        async with await trio.open_tcp_stream("127.0.0.1", server.http_port) as stream:
            client = Client(stream)
            for _ in range(3):
                await trio.sleep(KEEP_ALIVE_TIMEOUT - 1)
                response, _ = await client.exchange("GET", "/status")
                assert response.status_code == 200
                client.next_cycle()
            answered = trio.current_time()
            assert await client.closed_by_server()
            idle = trio.current_time() - answered
            assert KEEP_ALIVE_TIMEOUT <= idle < KEEP_ALIVE_TIMEOUT + 0.5


@pytest.mark.settings(server={"worker_threads": False})
async def test_a_request_longer_than_the_keep_alive_timeout_is_answered(
    autojump_clock: trio.testing.MockClock, server: Running
) -> None:
    """The timeout counts idle time only: an Engine.IO long poll, answered by the server's
    ping 25 s later, keeps its connection."""
    with trio.fail_after(60):
        async with await trio.open_tcp_stream("127.0.0.1", server.http_port) as stream:
            client = Client(stream)
            response, opened = await client.exchange("GET", f"{PATH}?EIO=4&transport=polling")
            assert response.status_code == 200
            sid = json.loads(opened[1:])["sid"]
            client.next_cycle()
            asked = trio.current_time()
            response, polled = await client.exchange(
                "GET", f"{PATH}?EIO=4&transport=polling&sid={sid}"
            )
            assert (response.status_code, polled) == (200, b"2")
            assert trio.current_time() - asked >= 25


async def test_an_answer_is_written_at_once() -> None:
    """Hypercorn's HTTP/1.1 protocol as realtime/http_server.py patches it holds an
    answer's head for what follows it and skips empty writes: the 400 to a malformed
    request is one write, then the close (Hypercorn wrote the head, then the empty end
    of the body)."""
    sent: list[Event] = []

    async def record(event: Event) -> None:
        sent.append(event)

    unused = cast(Any, None)  # the app and its task group: a malformed request reaches neither
    protocol = ProtocolWrapper(
        unused,
        HypercornConfig(),
        WorkerContext(None),
        unused,
        ConnectionState({}),
        False,
        ("127.0.0.1", 40000),
        ("127.0.0.1", 8000),
        record,
    )
    await protocol.handle(RawData(b"NOT HTTP\r\n\r\n"))
    assert [type(event) for event in sent] == [RawData, Closed]
    answer = cast(RawData, sent[0]).data
    assert answer.startswith(b"HTTP/1.1 400 \r\n") and answer.endswith(b"\r\n\r\n")


@pytest.mark.settings(realtime={"debug_echo": True})
@pytest.mark.parametrize(("after_request", "served_by_hypercorn"), [(False, False), (True, True)])
async def test_an_upgrade_as_the_first_request_is_served_as_on_the_listener(
    server: Running, after_request: bool, served_by_hypercorn: bool
) -> None:
    """A connection opened for a WebSocket goes to the listener's code; an upgrade after
    another request on a kept connection, to Hypercorn. Both serve the endpoint; the
    101 tells them apart (Hypercorn's carries a `date` header, the listener's none)."""
    with trio.fail_after(10):
        async with raw_websocket(
            server.http_port, ECHO_PATH, after_request=after_request
        ) as socket:
            assert socket.accepted is not None
            headers = [name for name, _ in socket.accepted.extra_headers]
            assert (b"date" in headers) is served_by_hypercorn
            await socket.send(wsproto.events.TextMessage(data="hello"))
            echoed = await socket.receive()
            assert isinstance(echoed, wsproto.events.TextMessage) and echoed.data == "hello"


async def test_a_client_reset_in_its_first_head_hurts_no_one(server: Running) -> None:
    """A connection reset while the HTTP port reads its first request head (to tell an
    upgrade from a request) ends that connection only."""
    with trio.fail_after(10):
        for _ in range(3):
            stream = await trio.open_tcp_stream("127.0.0.1", server.http_port)
            await stream.send_all(b"GET /status HTTP/1.1\r\nHo")
            await trio.sleep(0.05)  # the server is waiting for the rest of the head
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await stream.aclose()  # with SO_LINGER 0: a reset, not an EOF
        async with await trio.open_tcp_stream("127.0.0.1", server.http_port) as stream:
            response, body = await Client(stream).exchange("GET", "/status")
            assert (response.status_code, body) == (200, b"OK")
