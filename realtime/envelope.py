"""The JSON envelope codec (Click & Cook's `/ws`).

Request:  {"message_type":"request","request_id":ID,"request_type":TYPE,"data":{...}}
Response: {"message_type":"response","request_id":ID,"request_type":TYPE,"data":{...}}
Error:    the response envelope with "request_type":"error" and "data":{"message":TEXT}
Push:     a response with "request_id":"" (e.g. passive income ticks)

Text and binary frames are both read as JSON (the original's Go server did
the same). Anything that is not a well-formed envelope (including nesting too
deep to parse), and data that does not fit the command's schema, is answered
with the error "invalid data".
Frames out are text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

from realtime.codec import UNDECODABLE, BadFrame, Inbound, RequestId
from realtime.endpoint import ErrorTexts
from realtime.transport import Message

T = TypeVar("T")

INVALID_DATA = "invalid data"
TEXTS = ErrorTexts(
    unknown_action="unknown request type",
    rate_limited="too many requests",
    unavailable="storage unavailable, try again",
    internal="internal error",
)

_Id = (
    Annotated[str, msgspec.Meta(max_length=128)]
    | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
)


class _Request(msgspec.Struct):
    message_type: str = "request"
    request_id: _Id = ""
    request_type: Annotated[str, msgspec.Meta(max_length=64)] = ""
    data: msgspec.Raw = msgspec.Raw(b"{}")


class _Response(msgspec.Struct):
    message_type: str
    request_id: RequestId
    request_type: str
    data: Any


class _Error(msgspec.Struct):
    message: str


_decoder = msgspec.json.Decoder(_Request)
_encode = msgspec.json.Encoder().encode


class EnvelopeCodec:
    def decode(self, message: Message) -> Inbound:
        try:
            request = _decoder.decode(message)
        except UNDECODABLE:
            raise BadFrame(INVALID_DATA) from None
        return Inbound(request.request_type, request.request_id, request.data)

    def decode_data(self, inbound: Inbound, schema: type[T]) -> T:
        try:
            return msgspec.json.decode(inbound.data, type=schema)
        except UNDECODABLE:
            raise BadFrame(
                INVALID_DATA, action=inbound.action, request_id=inbound.request_id
            ) from None

    def encode_reply(self, action: str, request_id: RequestId, data: Any) -> Message:
        return _encode(_Response("response", request_id, action, data)).decode()

    def encode_error(
        self,
        action: str,
        request_id: RequestId,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> Message:
        data = {"message": message, **details} if details else _Error(message)
        return _encode(_Response("response", request_id, "error", data)).decode()

    def encode_push(self, event: str, data: Any) -> Message:
        return self.encode_reply(event, "", data)
