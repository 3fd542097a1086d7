"""The codec interface: one wire protocol's frames in and out.

A codec turns a client's message into an `Inbound` (which command, which
request, the command's data still undecoded) and turns replies, errors and
server pushes into frames. It never raises on bad input except `BadFrame`,
whose message is the protocol's documented error text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

import msgspec

from realtime.transport import Message, Messages

T = TypeVar("T")
# Whatever a codec uses to match an answer to its request (an id, an ack, a tag).
RequestId = Any
# What a codec makes of one answer: a frame, several, or none at all.
Outgoing = Messages | None
# What decoding a client's JSON may raise: not JSON, not the schema, or nested deeper
# than the interpreter's recursion limit (msgspec raises RecursionError for that one).
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def frames_of(outgoing: Outgoing) -> tuple[Message, ...]:
    """The frames of an answer, as a tuple: none for None, one for a lone frame."""
    if outgoing is None:
        return ()
    return outgoing if isinstance(outgoing, tuple) else (outgoing,)


class Inbound(NamedTuple):
    action: str
    request_id: RequestId
    data: Any  # undecoded; `Codec.decode_data` turns it into the command's schema


class BadFrame(Exception):
    """A frame the codec cannot accept; `message` is the documented error text.

    With `close_code`, the protocol closes the connection over such a frame.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str = "",
        request_id: RequestId = "",
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.request_id = request_id
        self.close_code = close_code


class Codec(Protocol):
    def decode(self, message: Message) -> Inbound:
        """Parse one client message; raises BadFrame."""
        ...

    def decode_data(self, inbound: Inbound, schema: type[T]) -> T:
        """Validate the command's data against `schema`; raises BadFrame."""
        ...

    def encode_reply(self, action: str, request_id: RequestId, data: Any) -> Outgoing:
        """The answer to a request (None: this protocol sends none)."""
        ...

    def encode_error(
        self,
        action: str,
        request_id: RequestId,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        """An error frame: `message`, plus `details` (more fields) where the protocol has room."""
        ...

    def encode_push(self, event: str, data: Any) -> Message: ...
