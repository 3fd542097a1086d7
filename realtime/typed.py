"""The typed JSON codec (the orders app's WebSocket): `{"type": NAME, "data": ...}`.

Client frames name a command in `type` and carry its `data` (absent, or any
JSON). Server frames are events of the same shape; an event without data has
no `data` key (`{"type":"pong"}`). Errors are `{"type":"error","data":{"message":
TEXT, ...details}}`. A frame that is not such an object is answered with the
error "Invalid message format"; data that does not fit the command with
"Invalid data for <type>". There are no request ids in this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

from realtime.codec import UNDECODABLE, BadFrame, Inbound, RequestId
from realtime.endpoint import ErrorTexts
from realtime.transport import Message

T = TypeVar("T")

INVALID_FORMAT = "Invalid message format"
TEXTS = ErrorTexts(
    unknown_action="Unknown message type",
    rate_limited="Too many messages",
    unavailable="Service unavailable, try again",
    internal="Internal error",
)


class _Frame(msgspec.Struct):
    type: Annotated[str, msgspec.Meta(max_length=64)]
    data: msgspec.Raw = msgspec.Raw(b"null")


class _Event(msgspec.Struct, omit_defaults=True):
    type: str
    data: Any = None


_decoder = msgspec.json.Decoder(_Frame)
_encode = msgspec.json.Encoder().encode


class TypedCodec:
    def decode(self, message: Message) -> Inbound:
        try:
            frame = _decoder.decode(message)
        except UNDECODABLE:
            raise BadFrame(INVALID_FORMAT) from None
        return Inbound(frame.type, "", frame.data)

    def decode_data(self, inbound: Inbound, schema: type[T]) -> T:
        try:
            return msgspec.json.decode(inbound.data, type=schema)
        except UNDECODABLE:
            raise BadFrame(f"Invalid data for {inbound.action}", action=inbound.action) from None

    def encode_reply(self, action: str, request_id: RequestId, data: Any) -> Message:
        return self.encode_push(action, data)

    def encode_error(
        self,
        action: str,
        request_id: RequestId,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> Message:
        return self.encode_push("error", {"message": message, **(details or {})})

    def encode_push(self, event: str, data: Any) -> Message:
        return _encode(_Event(event, data)).decode()
