"""The slash codec (the parties app's WebSocket): text frames `name/payload`.

Server frames are `name/` followed by the payload: text as it is, anything
else as JSON (`eventUpdated/{...}`, `mediaAdded/<id>`, `closeEvent/`). A
client frame's payload is handed to its command as text. The protocol has no
answers and no error frames: frames without `/`, unknown names and data a
command refuses are ignored; a binary frame closes the connection (1003).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from realtime.codec import BadFrame, Inbound, Outgoing, RequestId
from realtime.endpoint import ErrorTexts
from realtime.transport import UNSUPPORTED_DATA, Message

T = TypeVar("T")

TEXTS = ErrorTexts(unknown_action=None, rate_limited="", unavailable="", internal="")
_encode = msgspec.json.Encoder().encode


class SlashCodec:
    def decode(self, message: Message) -> Inbound:
        if isinstance(message, bytes):
            raise BadFrame("binary frames are not accepted", close_code=UNSUPPORTED_DATA)
        name, slash, payload = message.partition("/")
        return Inbound(name if slash else "", "", payload)

    def decode_data(self, inbound: Inbound, schema: type[T]) -> T:
        if schema is not str:
            raise TypeError("slash commands take their payload as text")
        payload: T = inbound.data
        return payload

    def encode_reply(self, action: str, request_id: RequestId, data: Any) -> Outgoing:
        return None

    def encode_error(
        self,
        action: str,
        request_id: RequestId,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> Outgoing:
        return None

    def encode_push(self, event: str, data: Any) -> Message:
        if data is None:
            return f"{event}/"
        if isinstance(data, str):
            return f"{event}/{data}"
        return f"{event}/{_encode(data).decode()}"
