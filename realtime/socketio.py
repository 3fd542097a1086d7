"""Socket.IO (protocols 4 and 5) over Engine.IO: the transport shim and the codec.

`SocketIOTransport` turns an Engine.IO session into the packets the codec
reads: it answers the namespace handshake itself (EIO 3: the server connects
the client to `/` at once; EIO 4: the client's `0` is answered `0{"sid"}`),
refuses other namespaces, ends the connection on the client's disconnect, and
drops the binary attachments of a binary event (too many close the session).

`SocketIOCodec` maps events onto commands: `2[name, data]` is command `name`
with `data`; an ack id asks for the handler's answer as `3<id>[answer]`.
Errors are events, shaped by the failing command's app (`ErrorStyle`); an
event nobody registered is ignored, as Socket.IO servers do.

Invariants: only the default namespace `/` serves events; nothing binary is
ever parsed as JSON.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import msgspec

from realtime.codec import UNDECODABLE, BadFrame, Inbound
from realtime.commands import Commands
from realtime.endpoint import Endpoint, ErrorTexts, Limits
from realtime.engineio import EngineOptions, EngineServer, EngineSession
from realtime.hub import Hub
from realtime.last import LastAnswer
from realtime.transport import ConnectionClosed, Message, Messages
from storage import Database

T = TypeVar("T")

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = "0123456"
MAX_ATTACHMENTS = 10  # more in one binary event closes the session

_encode = msgspec.json.Encoder().encode
_args = msgspec.json.Decoder(list[msgspec.Raw])
_string = msgspec.json.Decoder(str)  # an event's name; an error's transaction tag
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])  # an event's data, for the tag


class Packet(NamedTuple):
    type: str
    attachments: int
    namespace: str
    ack: int | None
    payload: str


def parse(text: str) -> Packet:
    """`<type>[<attachments>-][<namespace>,][<ack id>][<json>]`; raises ValueError."""
    if not text or text[0] not in "0123456":
        raise ValueError("unknown packet type")
    kind, rest = text[0], text[1:]
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        count, dash, rest = rest.partition("-")
        if not dash or not count.isdecimal():
            raise ValueError("bad attachment count")
        attachments = int(count)
    namespace = "/"
    if rest.startswith("/"):
        namespace, _, rest = rest.partition(",")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    ack = int(rest[:digits]) if 0 < digits <= 15 else None
    if digits > 15:
        raise ValueError("ack id too long")
    return Packet(kind, attachments, namespace, ack, rest[digits:])


# The transport parses each message to route it, and the codec the same text to decode it.
_last_packet = LastAnswer(parse)


class SocketIOTransport:
    """An Engine.IO session seen as a stream of Socket.IO event and ack packets."""

    pings = False
    awaiting_pong = False

    def __init__(self, engine: EngineSession) -> None:
        self.engine = engine
        self.sid = secrets.token_urlsafe(15)
        self._connected = False
        self._greeted = False
        self._skip_binary = 0

    async def receive(self) -> Message:
        if not self._greeted:
            self._greeted = True
            if self.engine.eio == 3:  # protocol 4: the server connects the client to "/"
                await self.engine.send(CONNECT)
                self._connected = True
        while True:
            message = await self.engine.receive()
            if isinstance(message, bytes):
                if self._skip_binary:
                    self._skip_binary -= 1
                continue
            try:
                packet = _last_packet.of(message)
            except ValueError:
                return message  # the codec answers it as malformed
            if packet.type == CONNECT:
                await self._connect(packet)
            elif packet.type == DISCONNECT:
                if packet.namespace == "/":
                    raise ConnectionClosed
            elif not self._connected or packet.namespace != "/":
                continue
            else:
                if packet.attachments > MAX_ATTACHMENTS:
                    raise ConnectionClosed
                self._skip_binary = packet.attachments
                return message

    async def _connect(self, packet: Packet) -> None:
        if packet.namespace != "/":
            refusal: Any = (
                {"message": "Invalid namespace"} if self.engine.eio == 4 else "Invalid namespace"
            )
            await self.engine.send(f"{CONNECT_ERROR}{packet.namespace},{_encode(refusal).decode()}")
            return
        self._connected = True
        if self.engine.eio == 4:
            await self.engine.send(CONNECT + _encode({"sid": self.sid}).decode())

    async def send(self, *messages: Message) -> None:
        await self.engine.send(*messages)

    def send_nowait(self, messages: Messages) -> bool:
        return self.engine.send_nowait(messages)

    @property
    def backlogged(self) -> bool:
        return self.engine.backlogged

    def ping(self) -> None:
        raise NotImplementedError("Engine.IO has its own heartbeat")

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.engine.send(DISCONNECT)
        await self.engine.close(code, reason)

    async def abort(self) -> None:
        await self.engine.abort()


class Request(NamedTuple):
    """What an event asked for besides its data: an ack; and, for an error, the app's
    transaction tag, read from the event's data only then.

    Nearly no event fails: a frozen dataclass holding the tag decoded for every event cost
    each about 0.4 µs more."""

    ack: int | None
    data: msgspec.Raw | None = None

    @property
    def transaction(self) -> str | None:
        return _transaction(self.data) if self.data is not None else None


_NO_REQUEST = Request(None)


# An app's errors: (event, transaction, message) -> the events (name, data) to emit.
ErrorStyle = Callable[[str, str | None, str], list[tuple[str, Any]]]


class SocketIOCodec:
    def __init__(self, default_style: ErrorStyle, styles: Mapping[str, ErrorStyle]) -> None:
        self._default_style = default_style
        self._styles = styles  # by event name: each app's own

    def decode(self, message: Message) -> Inbound:
        if isinstance(message, bytes):
            raise BadFrame("Binary packets are not supported")
        try:
            packet = _last_packet.of(message)
            if packet.type not in (EVENT, BINARY_EVENT):
                return Inbound("", _NO_REQUEST, msgspec.Raw(b"null"))  # acks: ignored
            args = _args.decode(packet.payload)
            name = _string.decode(args[0]) if args else ""
        except (ValueError, *UNDECODABLE):
            raise BadFrame("Invalid packet format") from None
        data = args[1] if len(args) > 1 else msgspec.Raw(b"null")
        request = Request(packet.ack, data)
        if packet.type == BINARY_EVENT:
            raise BadFrame("Binary attachments are not supported", action=name, request_id=request)
        return Inbound(name, request, data)

    def decode_data(self, inbound: Inbound, schema: type[T]) -> T:
        try:
            return msgspec.json.decode(inbound.data, type=schema)
        except UNDECODABLE:
            message = f'Invalid data format for "{inbound.action}" event'
            raise BadFrame(message, action=inbound.action, request_id=inbound.request_id) from None

    def encode_reply(self, action: str, request_id: Any, data: Any) -> Message | None:
        if not isinstance(request_id, Request) or request_id.ack is None:
            return None  # nobody asked for an answer
        return f"{ACK}{request_id.ack}{_encode([data]).decode()}"

    def encode_push(self, event: str, data: Any) -> Message:
        return EVENT + _encode([event] if data is None else [event, data]).decode()

    def encode_error(
        self,
        action: str,
        request_id: Any,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> tuple[Message, ...]:
        request = request_id if isinstance(request_id, Request) else _NO_REQUEST
        style = self._styles.get(action, self._default_style)
        frames = [
            self.encode_push(event, data)
            for event, data in style(action, request.transaction, message)
        ]
        if request.ack is not None:
            frames.append(f"{ACK}{request.ack}{_encode([{'error': message}]).decode()}")
        return tuple(frames)


def _transaction(data: msgspec.Raw) -> str | None:
    # No schema class: this module is compiled (scripts/compile.py). The fields stay Raw,
    # so a large event costs no objects for what is not the tag.
    try:
        tag = _fields.decode(data).get("transaction")
        return (_string.decode(tag) or None) if tag is not None else None
    except UNDECODABLE:
        return None  # not an object, or a tag that is not a string


TEXTS = ErrorTexts(
    unknown_action=None,  # Socket.IO servers ignore events nobody listens to
    rate_limited="Too many events",
    unavailable="Service unavailable, try again",
    internal="Internal server error",
)


class SocketIOService:
    """`/socket.io/`: the apps that speak Socket.IO register their events here.

    Every app's commands share the default namespace (their names must not
    clash); each keeps its own services and its own error events.
    """

    def __init__(
        self,
        *,
        options: EngineOptions,
        db: Database,
        hub: Hub,
        limits: Limits,
        logger: logging.Logger,
        default_style: ErrorStyle,
        path: str = "/socket.io/",
    ) -> None:
        self.commands: Commands[Any] = Commands()
        self._styles: dict[str, ErrorStyle] = {}
        self._endpoint = Endpoint(
            path,
            codec=SocketIOCodec(default_style, self._styles),
            texts=TEXTS,
            commands=self.commands,
            services=None,
            db=db,
            hub=hub,
            limits=limits,
            logger=logger,
        )
        self.engine = EngineServer(path, options, self._serve)

    def register(self, commands: Commands[T], services: T, style: ErrorStyle) -> None:
        """Serve `commands` on the default namespace; their failures use `style`."""
        for name in self.commands.include(commands, services):
            self._styles[name] = style

    async def _serve(self, session: EngineSession) -> None:
        await self._endpoint.serve(SocketIOTransport(session), session.handshake)
