"""Socket.IO packets: the transport routes each message and the codec decodes it, and
the text of an event is parsed once between them."""

from __future__ import annotations

from typing import Any, cast

import pytest

from realtime import socketio
from realtime.engineio import EngineSession
from realtime.last import LastAnswer
from realtime.socketio import Request, SocketIOCodec, SocketIOTransport


class _Engine:
    """An Engine.IO session reduced to what the transport uses: protocol 5's messages in
    order, and what it sends back."""

    eio = 4

    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        self.sent: list[str] = []

    async def receive(self) -> str:
        return self.messages.pop(0)

    async def send(self, *messages: str) -> None:
        self.sent.extend(messages)


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
    engine = _Engine("0", event)
    transport = SocketIOTransport(cast(EngineSession, engine))
    message = await transport.receive()
    inbound = SocketIOCodec(lambda *_: [], {}).decode(message)
    assert parsed == ["0", event]
    assert engine.sent[0].startswith('0{"sid":')
    assert (inbound.action, inbound.request_id.ack) == ("profile", 21)
    assert inbound.request_id == Request(21, inbound.data)
    assert bytes(cast(Any, inbound.data)) == b'{"token":"t"}'
