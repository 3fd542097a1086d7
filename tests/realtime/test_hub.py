"""Rooms: join, leave, detach; a publish reaches exactly the members, encoded once per codec."""

from __future__ import annotations

from typing import Any

import pytest

from realtime.codec import Codec
from realtime.connection import Connection
from realtime.envelope import EnvelopeCodec
from realtime.hub import Hub, TooManyConnections
from realtime.ratelimit import TokenBucket
from realtime.transport import Handshake, Message
from tests.realtime.test_connection import FakeTransport


def _connection(codec: Any) -> Connection:
    return Connection(
        FakeTransport(reading=True),
        Handshake("/ws", {}, {}, "test"),
        codec,
        outbox_size=8,
        rate=TokenBucket(1, 1),
    )


def _queued(connection: Connection) -> list[Message | None]:
    frames, connection._outbox = connection._outbox, []
    return frames


async def test_publish_reaches_members_only_and_encodes_once_per_codec() -> None:
    hub = Hub(max_connections_per_user=4)
    shared, other = EnvelopeCodec(), EnvelopeCodec()
    a, b, c, outsider = (
        _connection(shared),
        _connection(shared),
        _connection(other),
        _connection(shared),
    )
    for connection in (a, b, c, outsider):
        hub.attach(connection)
    for connection in (a, b, c):
        hub.join(connection, "room")
    encoded: list[Codec] = []

    def encode(codec: Codec) -> Message:
        encoded.append(codec)
        return codec.encode_push("hello", {})

    assert hub.publish("room", encode) == 3
    assert encoded == [shared, other] or encoded == [other, shared]
    assert [len(_queued(x)) for x in (a, b, c, outsider)] == [1, 1, 1, 0]

    hub.leave(b, "room")
    hub.detach(c)
    assert hub.publish("room", encode) == 1
    assert [len(_queued(x)) for x in (a, b, c)] == [1, 0, 0]
    hub.leave(a, "room")
    assert hub.publish("room", encode) == 0


async def test_each_member_gets_its_own_codecs_frame_in_a_room_of_mixed_codecs() -> None:
    hub = Hub(max_connections_per_user=4)
    codecs: list[Codec] = [EnvelopeCodec() for _ in range(3)]
    members = [_connection(codecs[number % 3]) for number in range(12)]
    for connection in members:
        hub.attach(connection)
        hub.join(connection, "room")
    encoded: list[Codec] = []

    def encode(codec: Codec) -> Message:
        encoded.append(codec)
        return f"for codec {codecs.index(codec)}"

    assert hub.publish("room", encode) == 12
    assert sorted(codecs.index(codec) for codec in encoded) == [0, 1, 2]
    for number, connection in enumerate(members):
        assert _queued(connection) == [f"for codec {number % 3}"]


async def test_connections_per_user_are_capped_and_freed_on_detach() -> None:
    hub = Hub(max_connections_per_user=2)
    first, second, third = (_connection(EnvelopeCodec()) for _ in range(3))
    for connection in (first, second, third):
        hub.attach(connection)
    hub.bind_user(first, 7)
    hub.bind_user(second, 7)
    hub.bind_user(second, 7)  # binding again is no new connection
    with pytest.raises(TooManyConnections):
        hub.bind_user(third, 7)
    assert third.user_id is None
    hub.detach(first)
    hub.bind_user(third, 7)
    assert third.user_id == 7
