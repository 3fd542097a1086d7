"""The wsproto listener on real sockets: frames written straight to an idle socket, the rest
of one the socket took only part of sent by the pump, a send the socket took part of
finished by itself and ahead of the next, nothing after a send cut short; reads first
while they find data; the opening request's head found across writes and bounded at 16
KiB, frames sent along with it read as the first ones, no header kept once a connection
is admitted, a socket closed at once even by a cancelled caller, and an accept loop that
retries when out of descriptors, stops on other errors, and leaves each stream to its
handler."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from functools import partial

import pytest
import trio
import trio.testing
import wsproto
import wsproto.events
from trio_websocket import ConnectionClosed, open_websocket_url

from realtime.connection import Connection
from realtime.echo import PATH as ECHO_PATH
from realtime.endpoint import Admission
from realtime.envelope import EnvelopeCodec
from realtime.listener import (
    ACCEPT_RETRY,
    HANDSHAKE_TIMEOUT,
    MAX_WAITS_AFTER_A_MISS,
    WsprotoTransport,
    _accept_forever,
    close_now,
    serve_listener,
)
from realtime.ratelimit import TokenBucket
from realtime.router import OriginPolicy, Router
from realtime.transport import Handshake, Transport
from server import Running

MAX_FRAMES = 300
FRAME_BYTES = 60_000  # 18 MB in all: more than loopback's socket buffers hold
PAYLOAD = 1_000_000  # far more than the socket buffers hold
HEADER = 10  # a text frame's header with a 64-bit length, unmasked (server to client)


def _frame(number: int) -> str:
    return f"{number:06d}".ljust(FRAME_BYTES, "x")


class Flood:
    """An endpoint that pushes numbered frames to whoever connects, until the socket takes
    only part of one (at most MAX_FRAMES)."""

    path = "/flood"
    admit: Admission | None = None

    def __init__(self) -> None:
        self.pushed = trio.Event()
        self.frames = 0
        self.transport: Transport | None = None

    async def serve(self, transport: Transport, handshake: Handshake) -> None:
        connection = Connection(
            transport,
            handshake,
            EnvelopeCodec(),
            outbox_size=MAX_FRAMES + 1,
            rate=TokenBucket(1, 1),
        )
        self.transport = transport
        while self.frames < MAX_FRAMES and not transport.backlogged:
            connection.push(_frame(self.frames))
            self.frames += 1
            await trio.lowlevel.checkpoint()  # a batch each: a second push in one is queued
        connection.ping()  # behind the cut frame
        self.pushed.set()

        async def read_until_gone(connection: Connection) -> None:
            while True:
                await connection.transport.receive()

        await connection.run(read_until_gone)


async def test_a_frame_the_socket_took_part_of_is_finished_by_the_pump() -> None:
    """The client reads nothing until the server has pushed frames straight into the
    socket and the socket took only part of the last one; nothing else is pushed after
    it but a ping. Pass: every frame arrives whole, once, in push order (the rest of the
    last frame goes out without another push to carry it), and the ping after them (the
    client's pong arrives)."""
    router = Router(OriginPolicy([]))
    flood = Flood()
    router.add(flood)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listen = partial(
                serve_listener,
                router,
                "127.0.0.1",
                0,
                max_message_bytes=65536,
                connections=nursery,
            )
            port = await nursery.start(listen)
            async with open_websocket_url(f"ws://127.0.0.1:{port}/flood") as client:
                await flood.pushed.wait()
                received = [await client.get_message() for _ in range(flood.frames)]
                assert flood.transport is not None
                # trio-websocket answers the ping itself; the transport only notes the pong.
                while flood.transport.awaiting_pong:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert 1 < flood.frames < MAX_FRAMES  # the socket filled up: one frame was cut
    assert received == [_frame(number) for number in range(flood.frames)]


def _accepted_pair() -> tuple[wsproto.WSConnection, wsproto.WSConnection]:
    """A server and a client protocol past the opening handshake."""
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server.receive_data(client.send(wsproto.events.Request(host="test", target="/ws")))
    assert isinstance(next(server.events()), wsproto.events.Request)
    client.receive_data(server.send(wsproto.events.AcceptConnection()))
    assert isinstance(next(client.events()), wsproto.events.AcceptConnection)
    return server, client


def _small_buffered_pair() -> tuple[WsprotoTransport, trio.SocketStream, wsproto.WSConnection]:
    """A transport on a socket with 4 KiB buffers, the peer's end, and its client protocol."""
    ours, theirs = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server, client = _accepted_pair()
    assert server.connection is not None
    transport = WsprotoTransport(
        trio.SocketStream(ours), server.connection, max_message_bytes=PAYLOAD
    )
    return transport, trio.SocketStream(theirs), client


async def test_a_send_cut_short_is_followed_by_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A slow consumer: the pump's send is stuck on a full socket and is cancelled (the
    # client is dropped). Part of the frame is out; a close frame written after it would
    # land inside that frame's payload, so the client gets the part and then the end.
    transport, peer, _ = _small_buffered_pair()
    with trio.move_on_after(1):  # the clock jumps once the send is stuck
        await transport.send("a" * PAYLOAD)
    received = bytearray(await peer.receive_some(65536))  # room for a close frame now
    with trio.move_on_after(1):  # as Connection.run does: the close frame's brief chance
        await transport.close(1008, "slow consumer")
    await transport.abort()
    while chunk := await peer.receive_some(65536):
        received += chunk
    assert HEADER < len(received) < HEADER + PAYLOAD
    assert received[HEADER:] == b"a" * (len(received) - HEADER)


async def _texts(peer: trio.SocketStream, client: wsproto.WSConnection, count: int) -> list[str]:
    """The next `count` whole text messages the peer reads."""
    texts: list[str] = []
    parts: list[str] = []
    while len(texts) < count:
        for event in await _events(peer, client, 1):
            assert isinstance(event, wsproto.events.TextMessage)
            parts.append(event.data)
            if event.message_finished:
                texts.append("".join(parts))
                parts = []
    return texts


async def test_a_send_the_socket_takes_part_of_finishes_by_itself() -> None:
    """One message far bigger than the socket's buffers, written at once as far as the
    socket takes it, and nothing sent after it. Pass: the client reads it whole, and the
    send returns only then."""
    transport, peer, client = _small_buffered_pair()
    returned = trio.Event()

    async def send() -> None:
        await transport.send("a" * PAYLOAD)
        returned.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            await trio.testing.wait_all_tasks_blocked()
            assert not returned.is_set()  # the socket is full: the rest waits
            assert await _texts(peer, client, 1) == ["a" * PAYLOAD]
    assert returned.is_set()


async def test_a_cancelled_send_writes_nothing() -> None:
    """A send from a cancelled caller, with nothing ahead of it, then one that is not.
    Pass: the first raises Cancelled, and the client reads only the second message."""
    transport, peer, client = _small_buffered_pair()
    with trio.CancelScope() as cancelled:
        cancelled.cancel()
        await transport.send("never")
    assert cancelled.cancelled_caught
    with trio.fail_after(10):
        await transport.send("after")
        assert await _texts(peer, client, 1) == ["after"]


async def test_a_send_waits_behind_one_the_socket_took_part_of() -> None:
    """One task sends a message far bigger than the socket's buffers, another a small one
    while the first is stuck. Pass: the client reads both whole, the big one first."""
    transport, peer, client = _small_buffered_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.send, "a" * PAYLOAD)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(transport.send, "after")
            await trio.testing.wait_all_tasks_blocked()
            assert await _texts(peer, client, 2) == ["a" * PAYLOAD, "after"]


async def test_receives_read_first_until_one_finds_the_socket_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new connection's receives wait for the socket, then read; after a while they
    read first. One that finds the socket empty (a miss) sends the next receive back to
    waiting first, the next miss in a row two, and a read-first that finds data starts
    over. Pass: the reads and waits of each receive, in order."""
    calls: list[str] = []
    read, wait_readable = os.read, trio.lowlevel.wait_readable

    def counted_read(fd: int, size: int) -> bytes:
        try:
            data = read(fd, size)
        except BlockingIOError:
            calls.append("empty")
            raise
        calls.append("read")
        return data

    async def counted_wait(fd: int) -> None:
        calls.append("wait")
        await wait_readable(fd)

    monkeypatch.setattr(os, "read", counted_read)
    monkeypatch.setattr(trio.lowlevel, "wait_readable", counted_wait)
    transport, peer, client = _small_buffered_pair()

    async def send(text: str) -> None:
        await peer.send_all(client.send(wsproto.events.TextMessage(data=text)))

    async def send_once_waited_for(text: str) -> None:
        await trio.testing.wait_all_tasks_blocked()
        await send(text)

    async def receive(text: str, *, sent_first: bool = True) -> list[str]:
        """The calls it took to receive `text`, sent before the receive or while it waits."""
        calls.clear()
        async with trio.open_nursery() as nursery:
            if sent_first:
                await send(text)
            else:
                nursery.start_soon(send_once_waited_for, text)
            assert await transport.receive() == text
        return calls[:]

    waits, hit, miss = ["wait", "read"], ["read"], ["empty", "wait", "read"]
    with trio.fail_after(10):
        for number in range(MAX_WAITS_AFTER_A_MISS):
            assert await receive(f"{number}") == waits
        assert await receive("there already") == hit
        assert await receive("not there yet", sent_first=False) == miss
        assert await receive("after a miss") == waits
        assert await receive("not there yet, again", sent_first=False) == miss
        assert [await receive("after two"), await receive("in a row")] == [waits, waits]
        assert await receive("there already, again") == hit
        assert await receive("not there yet, once more", sent_first=False) == miss
        assert await receive("after a miss, again") == waits


@pytest.mark.settings(realtime={"debug_echo": True})
async def test_frames_sent_with_the_opening_request_are_read_first(server: Running) -> None:
    """A client should wait for the answer before its first frame, but may not: one write
    holds the request, a whole frame and the start of another. Pass: the answer, then the
    echo of both messages in order."""
    handshake = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    frames = wsproto.connection.Connection(wsproto.ConnectionType.CLIENT)
    first = frames.send(wsproto.events.TextMessage(data="with the request"))
    second = frames.send(wsproto.events.BytesMessage(data=b"split across writes"))
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            request = wsproto.events.Request(host="127.0.0.1", target=ECHO_PATH)
            await stream.send_all(handshake.send(request) + first + second[:5])
            await trio.sleep(0.05)
            await stream.send_all(second[5:])
            events = await _events(stream, handshake, 3)
    assert isinstance(events[0], wsproto.events.AcceptConnection)
    assert events[1] == wsproto.events.TextMessage(data="with the request")
    assert events[2] == wsproto.events.BytesMessage(data=b"split across writes")


@pytest.mark.settings(realtime={"debug_echo": True}, server={"worker_threads": False})
async def test_a_client_too_slow_with_its_opening_request_is_dropped(
    autojump_clock: trio.testing.MockClock, server: Running
) -> None:
    """Two clients send half of their opening request at once; one sends the rest a
    second before HANDSHAKE_TIMEOUT (10 s), the other never does. Pass: the first gets its
    101; the second gets no answer, and the end of the stream when the time is up."""
    request = wsproto.WSConnection(wsproto.ConnectionType.CLIENT).send(
        wsproto.events.Request(host="127.0.0.1", target=ECHO_PATH)
    )
    half = len(request) // 2
    ended: list[tuple[float, bytes]] = []

    async def slow_client() -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            started = trio.current_time()
            await stream.send_all(request[:half])
            received = b""
            while data := await stream.receive_some(65536):
                received += data
            ended.append((trio.current_time() - started, received))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_client)
            stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
            async with stream:
                await stream.send_all(request[:half])
                await trio.sleep(HANDSHAKE_TIMEOUT - 1)
                await stream.send_all(request[half:])
                answer = await stream.receive_some(65536)
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert ended == [(HANDSHAKE_TIMEOUT, b"")]


@pytest.mark.settings(realtime={"debug_echo": True})
async def test_an_opening_request_split_inside_its_empty_line_is_answered(
    server: Running,
) -> None:
    """The request's head ends in the next write: one byte of its closing empty line and a
    whole frame. Pass: the answer, then the frame's echo."""
    handshake = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    frame = wsproto.connection.Connection(wsproto.ConnectionType.CLIENT).send(
        wsproto.events.TextMessage(data="after the head")
    )
    request = handshake.send(wsproto.events.Request(host="127.0.0.1", target=ECHO_PATH))
    assert request.endswith(b"\r\n\r\n")
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            await stream.send_all(request[:-1])
            await trio.sleep(0.05)
            await stream.send_all(request[-1:] + frame)
            events = await _events(stream, handshake, 2)
    assert isinstance(events[0], wsproto.events.AcceptConnection)
    assert events[1] == wsproto.events.TextMessage(data="after the head")


@pytest.mark.settings(realtime={"debug_echo": True})
async def test_an_opening_request_that_never_ends_is_dropped_at_16_kib(server: Running) -> None:
    """Header lines and no empty line after them. Pass: the server ends the stream without
    an answer once it holds more than 16 KiB of them (h11's limit), while far less is
    still waited for; and it serves the next client."""
    line = b"X-Filler: " + b"f" * 1014 + b"\r\n"  # 1 KiB
    with trio.fail_after(5):  # the handshake's own timeout is 10 s
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            await stream.send_all(b"GET /debug/echo HTTP/1.1\r\nHost: x\r\n" + line * 8)
            with trio.move_on_after(0.2) as waited:
                await stream.receive_some(1)
            assert waited.cancelled_caught  # 8 KiB: still waiting for the rest
            # The server may close before it read all of it: then the end is a reset.
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(line * 9)
                assert await stream.receive_some(65536) == b""
        async with open_websocket_url(f"ws://127.0.0.1:{server.ws_port}{ECHO_PATH}") as client:
            await client.send_message("still served")
            assert await client.get_message() == "still served"


class Recorder:
    """An endpoint that notes the handshake it is given and closes."""

    path = "/recorded"
    admit: Admission | None = None
    handshake: Handshake | None = None

    async def serve(self, transport: Transport, handshake: Handshake) -> None:
        self.handshake = handshake
        await transport.close(1000, "seen")


async def test_an_admitted_connection_keeps_its_handshake_without_the_headers() -> None:
    """The router reads the Origin; nothing after admission reads a header. Pass: the
    endpoint gets the path, the query and the peer's address, and no header."""
    router = Router(OriginPolicy(["http://allowed.example"]))
    recorder = Recorder()
    router.add(recorder)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listen = partial(
                serve_listener, router, "127.0.0.1", 0, max_message_bytes=65536, connections=nursery
            )
            port = await nursery.start(listen)
            headers = [(b"Origin", b"http://allowed.example"), (b"User-Agent", b"x" * 500)]
            url = f"ws://127.0.0.1:{port}/recorded?room=7"
            async with open_websocket_url(url, extra_headers=headers) as client:
                with contextlib.suppress(ConnectionClosed):
                    await client.get_message()
            nursery.cancel_scope.cancel()
    assert recorder.handshake is not None
    assert (recorder.handshake.path, dict(recorder.handshake.query)) == ("/recorded", {"room": "7"})
    assert recorder.handshake.remote.startswith("127.0.0.1:")
    assert dict(recorder.handshake.headers) == {}


async def _events(
    stream: trio.SocketStream, client: wsproto.WSConnection, count: int
) -> list[wsproto.events.Event]:
    """The client's first `count` events from what the server sends."""
    events: list[wsproto.events.Event] = []
    while len(events) < count:
        client.receive_data(await stream.receive_some(65536))
        events.extend(client.events())
    return events


async def test_close_now_closes_at_once_and_never_raises_even_when_cancelled() -> None:
    """A cancelled caller (a connection's abort runs in cancelled tasks at shutdown)
    still closes the socket: the peer sees the end of the stream, and nothing is raised."""
    ours, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    closed_inside = False
    with trio.CancelScope() as scope:
        scope.cancel()
        await close_now(stream)
        closed_inside = stream.socket.fileno() == -1
    assert closed_inside and not scope.cancelled_caught
    assert theirs.recv(1) == b""
    theirs.close()


class FlakyListener(trio.abc.Listener[trio.SocketStream]):
    """Fails its first accepts with `errnos`, then hands out `streams`, then waits."""

    def __init__(self, errnos: list[int], streams: list[trio.SocketStream]) -> None:
        self.errnos = errnos
        self.streams = streams
        self.closed = False

    async def accept(self) -> trio.SocketStream:
        await trio.lowlevel.checkpoint()
        if self.errnos:
            number = self.errnos.pop(0)
            raise OSError(number, os.strerror(number))
        if self.streams:
            return self.streams.pop(0)
        await trio.sleep_forever()

    async def aclose(self) -> None:
        self.closed = True


def _stream_pair() -> tuple[trio.SocketStream, socket.socket]:
    ours, theirs = socket.socketpair()
    return trio.SocketStream(trio.socket.from_stdlib_socket(ours)), theirs


async def test_an_accept_out_of_descriptors_is_retried_and_the_stream_left_to_its_handler(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """accept() fails with EMFILE, then ENFILE, then returns a stream. Pass: the handler
    gets the stream after exactly two pauses of ACCEPT_RETRY, each failure is logged as
    an error naming its cause, and the stream is still open after the handler returned
    (closing it is the handler's job: `serve_stream` does it)."""
    stream, theirs = _stream_pair()
    listener = FlakyListener([errno.EMFILE, errno.ENFILE], [stream])
    handled: list[tuple[trio.SocketStream, float]] = []

    async def handler(accepted: trio.SocketStream) -> None:
        handled.append((accepted, trio.current_time()))

    caplog.set_level(logging.ERROR, logger="hearth.realtime")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            start = trio.current_time()
            nursery.start_soon(_accept_forever, listener, handler, nursery)
            await trio.sleep(1)
            assert [accepted for accepted, _ in handled] == [stream]
            assert handled[0][1] - start == pytest.approx(2 * ACCEPT_RETRY)
            assert [record.getMessage() for record in caplog.records] == [
                f"accept failed ({os.strerror(errno.EMFILE)}); retrying in 0.1 s",
                f"accept failed ({os.strerror(errno.ENFILE)}); retrying in 0.1 s",
            ]
            assert stream.socket.fileno() != -1
            nursery.cancel_scope.cancel()
    assert listener.closed
    stream.socket.close()
    theirs.close()


async def test_an_accept_that_fails_for_another_reason_ends_the_listener() -> None:
    """accept() fails with EBADF. Pass: the error comes out of the accept loop, no handler
    ran, and the listener is closed."""
    listener = FlakyListener([errno.EBADF], [])
    handled: list[trio.SocketStream] = []

    async def handler(accepted: trio.SocketStream) -> None:
        handled.append(accepted)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with pytest.raises(OSError) as raised:
                await _accept_forever(listener, handler, nursery)
    assert raised.value.errno == errno.EBADF
    assert handled == [] and listener.closed
