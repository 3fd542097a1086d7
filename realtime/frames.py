"""The bytes of RFC 6455 on the server's side: frames built for clients, frames read from them.

wsproto stays the judge of the protocol, but it is a general machine in pure Python:
it spent about 10 µs on the one frame a client's message nearly always is, more than
any step of a round trip but the handler's own. `ClientFrames` cuts what a client sends
at frame boundaries and decodes that common frame itself: FIN, text or binary, no
reserved bit, masked, its length in the shortest encoding, and for text valid UTF-8.
It also reads a pong, which every connection sends back to each keepalive ping, and
which wsproto took 15 µs to see. Every other frame (pings, closes, fragments, anything
malformed) goes to wsproto whole, and the transport handles wsproto's event for it.

Invariants: wsproto is given whole frames only, in the stream's order, and every frame
from the first of a fragmented message to its last, so it never holds part of a frame
and its message state is the stream's. The one exception ends the connection: the part
of a message's first text frame that has arrived goes to wsproto as soon as it is not
UTF-8, for wsproto to fail the connection with 1007 at once. A frame whose payload is
over the limit is refused by its header, before any of its payload is kept.
"""

from __future__ import annotations

import codecs
import enum
import struct

from wsproto.connection import Connection as WebSocketProtocol

from realtime.transport import Message

FIN_TEXT = 0x81  # FIN, no reserved bit, opcode 1
FIN_BINARY = 0x82  # FIN, no reserved bit, opcode 2
FIRST_TEXT_FRAGMENT = 0x01  # no FIN, no reserved bit, opcode 1
FIN_PING = 0x89  # FIN, no reserved bit, opcode 9
FIN_PONG = 0x8A  # FIN, no reserved bit, opcode 10
MAX_CONTROL_PAYLOAD = 125
MASKED = 0x80
FIN = 0x80
LAST_DATA_OPCODE = 0x2  # continuation 0, text 1, binary 2; control frames are 8 and up
# A 7-bit length of 126 or 127 says the length follows in 16 or 64 bits: by each, the
# header's size up to the mask, the length's format, and the least length it may carry.
EXTENDED_LENGTHS = {126: (4, struct.Struct("!H"), 126), 127: (10, struct.Struct("!Q"), 65536)}


class Read(enum.Enum):
    """What `ClientFrames.next` found instead of a message."""

    MORE = enum.auto()  # no whole frame yet
    WSPROTO = enum.auto()  # the next frame went to wsproto: its event waits there
    TOO_BIG = enum.auto()  # the next frame's payload is over the limit
    PONG = enum.auto()  # the next frame was a pong (whatever its payload: any pong is a heartbeat)


class ClientFrames:
    """The bytes a client sent, taken one whole frame at a time."""

    __slots__ = ("_buffer", "_checked", "_fragmented", "_max", "_start", "_utf8", "_ws")

    def __init__(self, ws: WebSocketProtocol, max_payload: int, received: bytes = b"") -> None:
        self._ws = ws
        self._max = max_payload
        # What was read and not yet taken starts at `_start`: taking a frame from the
        # front of many small ones costs no copy of the rest.
        self._buffer: bytes | bytearray = received
        self._start = 0
        self._fragmented = False  # wsproto has a message's first frame but not its last
        # Of a text frame that has not all arrived: how much of its payload is known to
        # be UTF-8 so far, and the decoder that knows (made by the first such frame).
        self._checked = 0
        self._utf8: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> None:
        if self._start:
            self._buffer, self._start = self._buffer[self._start :] + data, 0
        elif not self._buffer:
            self._buffer = data  # the usual case: nothing waits, nothing is copied
        else:
            # Part of a frame waits: grown in place, so a frame sent a byte at a time
            # costs its length, not its length squared.
            if isinstance(self._buffer, bytes):
                self._buffer = bytearray(self._buffer)
            self._buffer += data

    def next(self) -> Message | Read:
        """The next frame's message if it is the common frame, PONG for a pong; else hand
        the frame to wsproto."""
        buffer, start = self._buffer, self._start
        available = len(buffer) - start
        if available < 2:
            return Read.MORE
        first, second = buffer[start], buffer[start + 1]
        size = second & 0x7F
        if size < 126:
            header, shortest = 2, True
        else:
            header, length, least = EXTENDED_LENGTHS[size]
            if available < header:
                return Read.MORE
            (size,) = length.unpack_from(buffer, start + 2)
            shortest = size >= least
        if size > self._max:
            return Read.TOO_BIG
        masked = second & MASKED
        if masked:
            header += 4
        end = start + header + size
        # What a client's frame must be for this reader to read it (or check it) itself.
        readable = masked and shortest and not self._fragmented
        if end > len(buffer):
            if readable and first in (FIN_TEXT, FIRST_TEXT_FRAGMENT):
                return self._check_text_so_far(end - size)
            return Read.MORE
        if self._checked:
            self._checked = 0
            assert self._utf8 is not None
            self._utf8.reset()
        if end == len(buffer):
            self._buffer, self._start = b"", 0
        else:
            self._start = end
        if readable and first == FIN_PONG and size <= MAX_CONTROL_PAYLOAD:
            return Read.PONG
        if readable and first in (FIN_TEXT, FIN_BINARY):
            payload = _unmask(buffer[end - size : end], buffer[end - size - 4 : end - size])
            if first == FIN_BINARY:
                return payload
            try:
                return payload.decode()
            except UnicodeDecodeError:
                pass  # wsproto closes the connection with 1007
        if first & 0x0F <= LAST_DATA_OPCODE:
            self._fragmented = not first & FIN
        self._ws.receive_data(bytes(buffer[start:end]))
        return Read.WSPROTO

    def _check_text_so_far(self, payload_start: int) -> Read:
        """MORE while what has arrived of a message's first text frame is UTF-8 so far.
        Otherwise that part goes to wsproto, which fails the connection with 1007 at once,
        as RFC 6455 asks, instead of once the frame is whole (up to the message limit
        later). Later fragments go to wsproto whole: their text goes on from its state."""
        buffer, checked = self._buffer, self._checked
        arrived = buffer[payload_start + checked :]
        if not arrived:
            return Read.MORE
        turn = checked % 4  # the mask byte the first new one was masked with
        mask = (
            buffer[payload_start - 4 + turn : payload_start]
            + buffer[payload_start - 4 : payload_start - 4 + turn]
        )
        if self._utf8 is None:
            self._utf8 = codecs.getincrementaldecoder("utf-8")()
        try:
            self._utf8.decode(_unmask(arrived, mask))
        except UnicodeDecodeError:
            self._ws.receive_data(bytes(buffer[self._start :]))
            self._buffer, self._start, self._checked = b"", 0, 0
            self._utf8.reset()
            return Read.WSPROTO
        self._checked += len(arrived)
        return Read.MORE


def _unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """`payload` XORed with the 4-byte `mask` repeated: the whole payload as one integer."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    unmasked = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return unmasked.to_bytes(size, "little")


def ping_frame(payload: bytes) -> bytes:
    """A server's ping (RFC 6455 section 5.5.2) carrying `payload`, at most 125 bytes: the
    bytes wsproto's `send(Ping(payload))` makes, without its machinery, for every
    connection's keepalive."""
    assert len(payload) <= MAX_CONTROL_PAYLOAD
    return bytes((FIN_PING, len(payload))) + payload


# The two bytes that start a frame of under 126 bytes, by first byte and size: made
# once, where `bytes((first, size))` made a tuple and a bytes object per frame.
_SHORT_HEADERS = {
    first: [bytes((first, size)) for size in range(126)] for first in (FIN_TEXT, FIN_BINARY)
}


def data_frame(message: Message) -> bytes:
    """`message` as one whole server frame (RFC 6455 section 5.2): FIN, text or binary,
    unmasked, no extension (the listener negotiates none).

    The bytes wsproto's `send` makes of a whole message, without its per-frame
    bookkeeping, which was a fifth of a passive tick's time: control frames and the
    close handshake still go through wsproto, and no message is ever sent in parts.
    """
    if isinstance(message, str):
        payload, first = message.encode(), FIN_TEXT
    else:
        payload, first = message, FIN_BINARY
    size = len(payload)
    if size < 126:
        return _SHORT_HEADERS[first][size] + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload
