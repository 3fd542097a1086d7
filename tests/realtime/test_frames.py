"""`realtime.frames`: client frames cut and read by `ClientFrames` (the common frame decoded
to what wsproto would make of it, at any split of the bytes, and a pong recognised; every
other frame handed to wsproto whole, in order, for its verdict), and server frames built by
`data_frame` and `ping_frame` byte for byte as wsproto builds them."""

from __future__ import annotations

from typing import Any

import pytest
import wsproto
import wsproto.events
from wsproto.connection import Connection as WebSocketProtocol

from realtime.frames import ClientFrames, Read, data_frame, ping_frame
from realtime.transport import Message

LIMIT = 70_000  # over 65,535: the 64-bit length encoding is in reach
MASK = b"\x37\xfa\x21\x3d"


def client_frames(*events: wsproto.events.Event) -> bytes:
    """What a client's wsproto sends for `events` (masked with a random key)."""
    client = WebSocketProtocol(wsproto.ConnectionType.CLIENT)
    return b"".join(client.send(event) for event in events)


def masked(first: int, payload: bytes, length: bytes | None = None) -> bytes:
    """A frame made by hand: first byte, the length as given (or its shortest encoding)."""
    if length is None:
        length = bytes((0x80 | len(payload),))
    key = (MASK * (len(payload) // 4 + 1))[: len(payload)]
    return bytes((first,)) + length + MASK + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def message_event(message: Message) -> wsproto.events.Message[Any]:
    if isinstance(message, str):
        return wsproto.events.TextMessage(data=message)
    return wsproto.events.BytesMessage(data=message)


def reader() -> tuple[ClientFrames, WebSocketProtocol]:
    server = WebSocketProtocol(wsproto.ConnectionType.SERVER)
    return ClientFrames(server, LIMIT), server


def taken(frames: ClientFrames) -> list[Message | Read]:
    """Everything `frames` gives until it wants more bytes."""
    out: list[Message | Read] = []
    while (item := frames.next()) is not Read.MORE:
        out.append(item)
    return out


def taken_in_two(frames: ClientFrames, frame: bytes, cut: int) -> list[Message | Read]:
    """Everything `frames` gives of `frame` fed in two parts, cut at `cut`: nothing (MORE)
    after the first."""
    frames.feed(frame[:cut])
    assert frames.next() is Read.MORE
    frames.feed(frame[cut:])
    return taken(frames)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, LIMIT])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_the_common_frame_is_read_whole_at_any_split(size: int, kind: str) -> None:
    """Pass: each prefix of the frame gives MORE, the whole gives exactly the message (text
    as str, binary as bytes, with a multi-byte character in text), and wsproto saw nothing."""
    message: Message = "é" * (size // 2) + "x" * (size % 2)  # `size` bytes of UTF-8
    if kind == "binary":
        message = bytes(i % 251 for i in range(size))
    event = message_event(message)
    frame = client_frames(event)
    cuts = sorted(
        cut
        for cut in {0, 1, 2, 3, 4, 9, 10, 13, len(frame) // 2, len(frame) - 1}
        if cut < len(frame)
    )
    for cut in cuts:
        frames, server = reader()
        assert taken_in_two(frames, frame, cut) == [message]
        assert list(server.events()) == []


def test_a_frame_sent_a_byte_at_a_time_is_read_once_whole() -> None:
    frames, _ = reader()
    frame = client_frames(wsproto.events.TextMessage(data="é" * 500))
    for index in range(len(frame) - 1):
        frames.feed(frame[index : index + 1])
        assert frames.next() is Read.MORE
    frames.feed(frame[-1:])
    assert taken(frames) == ["é" * 500]


def test_many_frames_in_one_read_come_out_in_order() -> None:
    frames, _ = reader()
    messages: list[Message] = [*(f"message {n}" for n in range(100)), b"\x00\xff", ""]
    frames.feed(client_frames(*map(message_event, messages)))
    assert taken(frames) == messages


def test_received_bytes_given_at_the_start_are_read_first() -> None:
    server = WebSocketProtocol(wsproto.ConnectionType.SERVER)
    first = client_frames(wsproto.events.TextMessage(data="first"))
    frames = ClientFrames(server, LIMIT, first[:3])
    frames.feed(first[3:] + client_frames(wsproto.events.TextMessage(data="second")))
    assert taken(frames) == ["first", "second"]


def test_a_frame_over_the_limit_is_refused_by_its_header() -> None:
    """Pass: TOO_BIG from the 4 bytes of a 16-bit length's header, before any payload."""
    frames = ClientFrames(WebSocketProtocol(wsproto.ConnectionType.SERVER), 1000)
    frames.feed(b"\x81\xfe" + (1001).to_bytes(2, "big"))
    assert frames.next() is Read.TOO_BIG
    frames = ClientFrames(WebSocketProtocol(wsproto.ConnectionType.SERVER), 1000)
    frames.feed(masked(0x81, b"x" * 1000, b"\xfe" + (1000).to_bytes(2, "big")))
    assert taken(frames) == ["x" * 1000]


def test_a_fragmented_message_and_the_control_frames_inside_it_go_to_wsproto() -> None:
    """Pass: every frame from the first fragment to the last goes to wsproto, a ping between
    them too, and the common frame after the last fragment is read here again."""
    frames, server = reader()
    frames.feed(
        client_frames(
            wsproto.events.TextMessage(data="he", message_finished=False),
            wsproto.events.Ping(payload=b"p"),
            wsproto.events.Pong(payload=b"q"),
            wsproto.events.TextMessage(data="llo", message_finished=True),
            wsproto.events.TextMessage(data="after"),
        )
    )
    assert taken(frames) == [Read.WSPROTO] * 4 + ["after"]
    assert list(server.events()) == [
        wsproto.events.TextMessage(data="he", frame_finished=True, message_finished=False),
        wsproto.events.Ping(payload=b"p"),
        wsproto.events.Pong(payload=b"q"),
        wsproto.events.TextMessage(data="llo", frame_finished=True, message_finished=True),
    ]


@pytest.mark.parametrize("cut", [1, 2, 5, 6])
def test_a_pong_is_read_here_whatever_its_payload(cut: int) -> None:
    """Pass: a pong, empty or of the most a control frame may carry, whole or in two parts,
    is PONG and nothing reaches wsproto; the message after it is read as usual."""
    frames, server = reader()
    frames.feed(client_frames(wsproto.events.Pong(payload=b"")))
    assert taken(frames) == [Read.PONG]
    pong = client_frames(wsproto.events.Pong(payload=b"x" * 125))
    assert taken_in_two(frames, pong, cut) == [Read.PONG]
    frames.feed(client_frames(wsproto.events.TextMessage(data="after")))
    assert taken(frames) == ["after"]
    assert list(server.events()) == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (masked(0xC1, b"rsv1"), 1002),  # a reserved bit: no extension was negotiated
        (b"\x81\x04" + b"open", 1002),  # not masked
        (masked(0x81, b"short", b"\xfe\x00\x05"), 1002),  # 16-bit length for 5 bytes
        (masked(0x81, b"\xff\xfe"), 1007),  # text that is not UTF-8
        (masked(0x80, b"continued"), 1002),  # a continuation with no message begun
        (masked(0x83, b""), 1002),  # a reserved opcode
        (b"\x8a\x00", 1002),  # a pong not masked
        (masked(0xCA, b""), 1002),  # a pong with a reserved bit
        (masked(0x0A, b""), 1002),  # a pong in parts: control frames may not be
        (masked(0x8A, b"x" * 126, b"\xfe\x00\x7e"), 1002),  # a pong over 125 bytes
    ],
)
def test_every_other_frame_goes_to_wsproto_whole_for_its_verdict(frame: bytes, code: int) -> None:
    """Pass: the frame goes to wsproto, whose event for it is the close with the RFC 6455
    code, and nothing of it is read as a message."""
    frames, server = reader()
    frames.feed(frame)
    assert taken(frames) == [Read.WSPROTO]
    events = list(server.events())
    assert len(events) == 1
    assert isinstance(events[0], wsproto.events.CloseConnection)
    assert events[0].code == code


@pytest.mark.parametrize("first", [0x81, 0x01])  # a whole message, a message's first fragment
def test_text_that_is_not_utf8_fails_before_its_frame_is_whole(first: int) -> None:
    """RFC 6455 8.1 asks to fail at once (Autobahn 6.4.3-4): the bad bytes arrive, the rest
    of the frame does not. Pass: wsproto gets what arrived and closes with 1007."""
    frames, server = reader()
    frame = masked(first, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"tail" * 20)
    frames.feed(frame[:8])
    assert frames.next() is Read.MORE  # UTF-8 so far
    frames.feed(frame[8:24])
    assert frames.next() is Read.WSPROTO
    (verdict,) = server.events()
    assert isinstance(verdict, wsproto.events.CloseConnection)
    assert verdict.code == 1007


def test_each_text_frame_in_parts_is_checked_from_its_own_start() -> None:
    """A frame whose checked part ended inside a character, then one whose checked part
    ends inside another. Pass: both read whole (the second's check neither goes on from
    the first's state nor skips its own first bytes)."""
    frames, server = reader()
    for text, cut in (("éa", 7), ("aé", 8)):  # 6 bytes of header and mask, then the text
        frame = client_frames(wsproto.events.TextMessage(data=text))
        assert taken_in_two(frames, frame, cut) == [text]  # the first part ends inside é
    assert list(server.events()) == []


def test_a_whole_message_inside_a_fragmented_one_is_wsprotos_to_refuse() -> None:
    frames, server = reader()
    frames.feed(
        client_frames(wsproto.events.TextMessage(data="he", message_finished=False))
        + masked(0x81, b"intruder")
    )
    assert taken(frames) == [Read.WSPROTO, Read.WSPROTO]
    *_, verdict = server.events()
    assert isinstance(verdict, wsproto.events.CloseConnection)
    assert verdict.code == 1002


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_a_data_frame_is_what_wsproto_sends_and_a_client_reads(size: int, kind: str) -> None:
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)  # 1 and 2 byte characters
    message: str | bytes = text if kind == "text" else text.encode()[:size]
    event = message_event(message)
    server = WebSocketProtocol(wsproto.ConnectionType.SERVER)
    client = WebSocketProtocol(wsproto.ConnectionType.CLIENT)
    assert data_frame(message) == server.send(event)
    client.receive_data(data_frame(message))
    (received,) = client.events()
    assert type(received) is type(event) and received.data == message
    assert received.message_finished


@pytest.mark.parametrize("size", [0, 4, 125])
def test_a_ping_frame_is_what_wsproto_sends(size: int) -> None:
    payload = bytes(range(size))
    server = WebSocketProtocol(wsproto.ConnectionType.SERVER)
    assert ping_frame(payload) == server.send(wsproto.events.Ping(payload=payload))
