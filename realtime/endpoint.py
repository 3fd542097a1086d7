"""A WebSocket endpoint: a path served by one codec and one command table.

`Endpoint.serve` is what both transport adapters call once they have accepted
a socket. It reads messages one at a time and dispatches each: decode, look
the command up, validate its data, run the app's guard and the handler, and
deliver the reply. A connection's messages are handled in order, one after
the other, which bounds what one client can have in flight.

Invariant: no input reaches a handler unvalidated, and no failure of a
handler closes the connection or escapes as an exception: the client gets the
codec's error frame and the connection goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from realtime.codec import BadFrame, Codec, RequestId, frames_of
from realtime.commands import Command, CommandError, Commands, Context, Direct, Emitted
from realtime.connection import Connection
from realtime.hub import Hub
from realtime.ratelimit import TokenBucket
from realtime.transport import POLICY_VIOLATION, Handshake, Message, Transport
from storage import Database, StorageError

S = TypeVar("S")
_FAILED = object()  # what `Endpoint._attempt` returns once it has answered a failure

Guard = Callable[[Context[S, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    outbox_size: int
    rate_per_second: float
    rate_burst: int


@dataclass(frozen=True)
class Refusal:
    """An HTTP answer instead of the upgrade."""

    status: int
    body: str = ""


# A check of the opening request before the upgrade: None admits it.
Admission = Callable[[Handshake], Awaitable[Refusal | None]]


@dataclass(frozen=True)
class ErrorTexts:
    """The messages a codec's error frames carry for failures outside any command."""

    unknown_action: str | None  # None: messages for no command are ignored
    rate_limited: str
    unavailable: str
    internal: str


class Endpoint(Generic[S]):
    def __init__(
        self,
        path: str,
        *,
        codec: Codec,
        texts: ErrorTexts,
        commands: Commands[S],
        services: S,
        db: Database,
        hub: Hub,
        limits: Limits,
        logger: logging.Logger,
        guard: Guard[S] | None = None,
        reply_room: Callable[[Context[S, Any]], str | None] | None = None,
        admit: Admission | None = None,
        on_open: Callable[[Connection], Awaitable[None]] | None = None,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self.path = path
        self.codec = codec
        self.texts = texts
        self.commands = commands
        self.services = services
        self.db = db
        self.hub = hub
        self.limits = limits
        self.logger = logger
        self.guard = guard
        self.reply_room = reply_room
        self.admit = admit
        self.on_open = on_open
        self.on_close = on_close

    async def serve(self, transport: Transport, handshake: Handshake) -> None:
        """Serve one accepted socket until it closes."""
        connection = Connection(
            transport,
            handshake,
            self.codec,
            outbox_size=self.limits.outbox_size,
            rate=TokenBucket(self.limits.rate_per_second, self.limits.rate_burst),
        )
        self.hub.attach(connection)
        try:
            await connection.run(self._session)
        finally:
            self.hub.detach(connection)
            if self.on_close is not None:
                self.on_close(connection)

    async def _session(self, connection: Connection) -> None:
        """Greet the connection (the app's `on_open`), then read and dispatch its messages.

        A greeting that fails closes the connection (1008 unless it names a code).
        """
        if self.on_open is not None:
            opened = await self._attempt(connection, "", "", partial(self.on_open, connection))
            if opened is _FAILED:
                if not connection.closing:
                    connection.close(POLICY_VIOLATION, "refused")
                return
        receive = connection.transport.receive
        while True:
            message = await receive()
            if connection.rate.allow():
                await self.dispatch(connection, message)
            else:
                connection.push(self.codec.encode_error("", "", self.texts.rate_limited))

    async def dispatch(self, connection: Connection, message: Message) -> None:
        """Handle one client message: reply, or answer with the codec's error frame."""
        codec = self.codec
        try:
            inbound = codec.decode(message)
            command = self.commands.get(inbound.action)
            if command is None:
                if self.texts.unknown_action is None:
                    return
                raise BadFrame(
                    self.texts.unknown_action, action=inbound.action, request_id=inbound.request_id
                )
            data = codec.decode_data(inbound, command.schema)
        except BadFrame as bad:
            connection.push(codec.encode_error(bad.action, bad.request_id, bad.message))
            if bad.close_code is not None:
                connection.close(bad.close_code, bad.message)
            return
        services = command.services if command.services is not None else self.services
        context = Context(
            self.db, services, data, connection, self.logger, command.name, inbound.request_id
        )
        result = await self._attempt(
            connection, command.name, inbound.request_id, partial(self._run, command, context)
        )
        if result is not _FAILED:
            self._deliver(context, result)

    async def _run(self, command: Command[S], context: Context[S, Any]) -> Any:
        if self.guard is not None:
            await self.guard(context)
        return await command.handler(context)

    async def _attempt(
        self,
        connection: Connection,
        action: str,
        request_id: RequestId,
        work: Callable[[], Awaitable[Any]],
    ) -> Any:
        """`await work()`; on failure answer the codec's error frame and return _FAILED."""
        codec = self.codec
        try:
            return await work()
        except CommandError as failure:
            connection.push(
                codec.encode_error(action, request_id, failure.message, failure.details)
            )
            if failure.close_code is not None:
                connection.close(failure.close_code, failure.message)
            return _FAILED
        except StorageError as failure:
            self.logger.warning("%s %r: %s", action, connection, failure)
            error = self.texts.unavailable
        except Exception:
            self.logger.exception("%s failed on %r", action or "greeting", connection)
            error = self.texts.internal
        connection.push(codec.encode_error(action, request_id, error))
        return _FAILED

    def _deliver(self, context: Context[S, Any], result: Any) -> None:
        if result is None:
            return
        connection, action, request_id = context.connection, context.action, context.request_id
        if isinstance(result, Direct):
            connection.push(self.codec.encode_reply(action, request_id, result.data))
            return
        if isinstance(result, Emitted):
            reply = self.codec.encode_reply(action, request_id, result.data)
            pushed = self.codec.encode_push(result.event, result.data)
            connection.push((pushed, *frames_of(reply)))
            return
        room = self.reply_room(context) if self.reply_room is not None else None
        if room is None:
            connection.push(self.codec.encode_reply(action, request_id, result))
        else:
            self.hub.publish(room, lambda codec: codec.encode_reply(action, request_id, result))
