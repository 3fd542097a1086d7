"""Socket.IO packets: the transport routes each message and the codec decodes it, and
the text of an event is parsed once between them."""

from __future__ import annotations

from typing import Any, cast

import msgspec
import pytest

from realtime import socketio
from realtime.engineio import EngineOptions, EngineSession
from realtime.last import LastAnswer
from realtime.socketio import Request, SocketIOCodec, SocketIOTransport
from realtime.transport import NO_HEADERS, Handshake, Message, Messages, Transport


class _Socket:
    """A WebSocket reduced to what an Engine.IO session uses of it: Engine.IO packets in
    order, and what is sent back. (The session is a real one: compiled, the transport
    takes nothing else.)"""

    pings = False
    awaiting_pong = False
    backlogged = False

    def __init__(self, *packets: str) -> None:
        self.packets = list(packets)
        self.sent: list[Message] = []

    async def receive(self) -> str:
        return self.packets.pop(0)

    async def send(self, *messages: str) -> None:
        self.sent.extend(messages)

    def send_nowait(self, messages: Messages) -> bool:
        self.sent.extend(messages if isinstance(messages, tuple) else (messages,))
        return True


async def test_an_event_is_parsed_once_by_the_transport_and_the_codec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    parse = socketio.parse

    def counted(text: str) -> socketio.Packet:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(socketio, "_last_packet", LastAnswer(counted))
    # Built at run time: a new string object, as a message read off a socket is.
    event = "".join(["221", '["profile",{"token":"t"}]'])  # an event, ack id 21
    socket = _Socket("40", "4" + event)  # Engine.IO messages: a connect, then the event
    handshake = Handshake("/socket.io/", {}, NO_HEADERS, "127.0.0.1")
    options = EngineOptions(25, 20, 1_000_000)
    engine = EngineSession("s", 4, options, handshake, cast(Transport, socket))
    transport = SocketIOTransport(engine)
    message = await transport.receive()
    inbound = SocketIOCodec(lambda *_: [], {}).decode(message)
    assert parsed == ["0", event]
    assert str(socket.sent[0]).startswith('40{"sid":')
    assert (inbound.action, inbound.request_id.ack) == ("profile", 21)
    assert inbound.request_id == Request(21, inbound.data)
    assert bytes(cast(Any, inbound.data)) == b'{"token":"t"}'


@pytest.mark.parametrize(
    ("data", "tag"),
    [
        (b'{"token":"t","transaction":"x1"}', "x1"),
        (b'{"transaction":""}', None),
        (b'{"transaction":7}', None),
        (b'{"transaction":null}', None),
        (b'{"token":"t"}', None),
        (b'["transaction","x1"]', None),
        (b'{"transaction":', None),
    ],
)
def test_an_error_reads_the_transaction_tag_only_from_a_string_in_an_object(
    data: bytes, tag: str | None
) -> None:
    assert Request(None, msgspec.Raw(data)).transaction == tag
