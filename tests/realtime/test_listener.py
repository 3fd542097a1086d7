"""The wsproto listener's write path: frames written straight to an idle socket, the rest
of one the socket took only part of sent by the pump."""

from __future__ import annotations

from functools import partial

import trio
from trio_websocket import open_websocket_url

from realtime.connection import Connection
from realtime.endpoint import Admission
from realtime.envelope import EnvelopeCodec
from realtime.listener import serve_listener
from realtime.ratelimit import TokenBucket
from realtime.router import OriginPolicy, Router
from realtime.transport import Handshake, Transport

MAX_FRAMES = 300
FRAME_BYTES = 60_000  # 18 MB in all: more than loopback's socket buffers hold


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
            async with open_websocket_url(f"ws://127.0.0.1:{port}/flood") as socket:
                await flood.pushed.wait()
                received = [await socket.get_message() for _ in range(flood.frames)]
                assert flood.transport is not None
                # trio-websocket answers the ping itself; the transport only notes the pong.
                while flood.transport.awaiting_pong:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert 1 < flood.frames < MAX_FRAMES  # the socket filled up: one frame was cut
    assert received == [_frame(number) for number in range(flood.frames)]
