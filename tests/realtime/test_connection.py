"""Outboxes: a publish never waits; a client that stops reading is dropped with 1008."""

from __future__ import annotations

from functools import partial
from typing import Any

import trio
import trio.testing

from realtime.codec import Codec
from realtime.connection import Connection
from realtime.envelope import EnvelopeCodec
from realtime.hub import Hub
from realtime.ratelimit import TokenBucket
from realtime.transport import ConnectionClosed, Handshake, Message, Messages


class FakeTransport:
    """A socket whose peer reads only when `reading` is set; `send_nowait` takes a frame
    only while `idle` is set."""

    pings = False
    awaiting_pong = False

    def __init__(self, *, reading: bool) -> None:
        self.reading = reading
        self.idle = False
        self.direct: list[Message] = []  # the frames taken by `send_nowait`
        self.sent: list[Message] = []
        self.writes: list[int] = []  # messages per send call
        self.closed_with: tuple[int, str] | None = None
        self.aborted = False
        self._inbox_in, self._inbox = trio.open_memory_channel[Message](10)

    async def deliver(self, message: Message) -> None:
        """What the client sends next."""
        await self._inbox_in.send(message)

    async def receive(self) -> Message:
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise ConnectionClosed from None

    async def send(self, *messages: Message) -> None:
        if not self.reading:
            await trio.sleep_forever()
        self.sent.extend(messages)
        self.writes.append(len(messages))

    def send_nowait(self, messages: Messages) -> bool:
        if self.idle:
            taken = messages if isinstance(messages, tuple) else (messages,)
            self.sent.extend(taken)
            self.direct.extend(taken)
            self.writes.append(len(taken))
        return self.idle

    backlogged = False

    def ping(self) -> None:
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        if not self.reading:  # the close frame cannot get through either
            await trio.sleep_forever()

    async def abort(self) -> None:
        self.aborted = True


def _connection(transport: FakeTransport, outbox: int = 4) -> Connection:
    handshake = Handshake("/ws", {}, {}, "test")
    return Connection(
        transport, handshake, EnvelopeCodec(), outbox_size=outbox, rate=TokenBucket(10, 10)
    )


def _tick(n: int, codec: Codec) -> Message:
    return codec.encode_push("tick", {"n": n})


async def _idle(connection: Connection) -> None:
    await trio.sleep_forever()


async def test_a_slow_consumer_is_dropped_and_the_others_get_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub(max_connections_per_user=4)
    slow_transport, healthy_transport = FakeTransport(reading=False), FakeTransport(reading=True)
    slow, healthy = _connection(slow_transport), _connection(healthy_transport)
    async with trio.open_nursery() as nursery:
        for connection in (slow, healthy):
            hub.attach(connection)
            hub.join(connection, "room")
            nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(20):  # never waits, whoever is slow
            hub.publish("room", partial(_tick, n))
            await trio.lowlevel.checkpoint()
        await trio.sleep(1)  # the close frame's brief chance
        assert slow.close_code == 1008 and slow.close_reason == "slow consumer"
        assert slow_transport.closed_with == (1008, "slow consumer")
        assert slow_transport.aborted
        assert len(healthy_transport.sent) == 20
        assert healthy.close_code is None
        healthy.close()
        await trio.testing.wait_all_tasks_blocked()
    assert healthy_transport.closed_with == (1000, "")


async def test_frames_queued_together_go_out_in_one_write_in_order() -> None:
    transport = FakeTransport(reading=True)
    connection = _connection(transport, outbox=8)
    codec: Any = connection.codec
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(5):  # no checkpoint between them: the pump finds all five queued
            connection.push(codec.encode_push("burst", {"n": n}))
        await trio.testing.wait_all_tasks_blocked()
        connection.push(codec.encode_push("later", {}))
        await trio.testing.wait_all_tasks_blocked()
        connection.close()
    assert transport.writes == [5, 1]
    assert [str(frame).count(f'"n":{n}') for n, frame in enumerate(transport.sent[:5])] == [1] * 5


async def test_a_frame_goes_straight_to_an_idle_socket_only_with_nothing_queued() -> None:
    transport = FakeTransport(reading=True)
    connection = _connection(transport, outbox=8)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        connection.push("first")  # the socket is busy (a ping, say): queued
        transport.idle = True
        connection.push("second")  # the socket is idle, but "first" is not sent yet
        await trio.testing.wait_all_tasks_blocked()
        connection.push("third")  # nothing queued: straight to the socket
        connection.close()
    assert transport.sent == ["first", "second", "third"]
    assert transport.direct == ["third"]


async def test_a_connection_writes_straight_to_an_idle_socket_once_a_batch() -> None:
    transport = FakeTransport(reading=True)
    transport.idle = True
    connection = _connection(transport, outbox=8)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        connection.push(("event", "its ack"))  # frames pushed together: one write
        connection.push("second")  # the same batch: queued, and with the next ...
        connection.push("third")  # ... sent by the pump in one write
        await trio.testing.wait_all_tasks_blocked()
        connection.push("later")  # a later batch: straight to the socket again
        connection.close()
    assert transport.sent == ["event", "its ack", "second", "third", "later"]
    assert transport.direct == ["event", "its ack", "later"]
    assert transport.writes == [2, 2, 1]


async def test_a_burst_in_one_batch_goes_out_a_few_frames_a_write_and_drops_nobody() -> None:
    transport = FakeTransport(reading=True)
    transport.idle = True
    connection = _connection(transport, outbox=4)  # three may be held back
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(20):  # more than the outbox holds, all in one batch
            connection.push(f"frame {n}")
        await trio.testing.wait_all_tasks_blocked()
        assert connection.close_code is None
        connection.close()
    assert transport.sent == [f"frame {n}" for n in range(20)]
    assert transport.writes == [1, 4, 4, 4, 4, 3]  # the last three by the pump


async def test_close_sends_what_is_queued_first() -> None:
    transport = FakeTransport(reading=True)
    connection = _connection(transport, outbox=8)
    codec: Any = connection.codec
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.run, _idle)
        await trio.testing.wait_all_tasks_blocked()
        for n in range(3):
            connection.push(codec.encode_push("last", {"n": n}))
        connection.close(1001, "server shutting down")
        connection.push(codec.encode_push("too late", {}))
    assert [str(frame).count('"last"') for frame in transport.sent] == [1, 1, 1]
    assert transport.closed_with == (1001, "server shutting down")
