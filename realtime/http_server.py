"""The HTTP port's server: Hypercorn 0.18, patched where it failed or cost too much, and
`HttpFront`, the ASGI app as Hypercorn runs it. A connection whose first request is a
WebSocket upgrade is not Hypercorn's: it goes to the listener's code (`HttpConfig`).

Each patch below names what asked for it: a test that found a failure, or a profile
that found a cost. They are installed when this module is imported (the server module
imports it), by replacing the classes and methods Hypercorn creates and calls; the
versions are pinned in constraints.txt, and tests/test_http_connections.py,
tests/test_http_limits.py and tests/realtime/test_conformance.py exercise them.

Invariants: a connection that cannot be kept (an answer sent before its request's body
was read) is closed; an idle connection is closed after `keep_alive_timeout`, a busy one
never for being busy; an answer's head goes out in one write with what follows it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

import h11
import hypercorn.protocol as hypercorn_protocol
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import StreamClosed
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio import tcp_server as hypercorn_tcp
from hypercorn.trio.worker_context import TrioSingleTask, WorkerContext
from hypercorn.typing import AppWrapper, H11SendableEvent, LifespanState, TaskGroup
from quart_trio import QuartTrio
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Ping
from wsproto.events import Message as WsMessage
from wsproto.frame_protocol import CloseReason

from realtime.listener import END_OF_HEAD, close_now


class _WebsocketBuffer(ws_stream.WebsocketBuffer):
    """Hypercorn's buffer for an incoming WebSocket message, made to forget one that ran
    over the size limit.

    Hypercorn 0.18 answers such a message with close 1009 but keeps it in the buffer, and
    goes on reading: the client's next frames extend it, and a text frame after binary
    ones (or the other way round) raises TypeError, which Hypercorn lets end the whole
    server (found by tests/realtime/test_hostile_input.py). Once over the limit the
    connection is closing: every later frame is refused the same way, never buffered.
    """

    def __init__(self, max_length: int) -> None:
        super().__init__(max_length)
        self._over = False

    def extend(self, event: Any) -> None:
        if self._over:
            raise ws_stream.FrameTooLargeError()
        try:
            super().extend(event)
        except ws_stream.FrameTooLargeError:
            self._over = True
            self.clear()
            raise


ws_stream.WebsocketBuffer = _WebsocketBuffer  # type: ignore[misc]  # what WSStream creates


class _KeepAliveDeadline(TrioSingleTask):
    """Hypercorn's keep-alive timeout as one watcher per connection and a deadline that
    moves, instead of a task started (under a lock) for every idle period.

    Hypercorn calls `restart` when the connection goes idle (it opened, or an answer
    ended) and `stop` when a request arrives, that is twice per request: starting a
    task each time was a fifth of the CPU a keep-alive request cost (2026-12-02). It is
    a `TrioSingleTask` for the type Hypercorn declares; the base's lock goes unused.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.scope = trio.CancelScope()  # the watcher's; its deadline is the idle one
        self.busy = False
        self.ended = False
        self._timeout = timeout
        self._watching = False

    async def restart(self, task_group: TaskGroup, action: Callable[..., Any]) -> None:
        """The connection is idle: `action`, the watcher, is started the first time."""
        self.busy = False
        self.scope.deadline = trio.current_time() + self._timeout
        if not self._watching:
            self._watching = True
            task_group.spawn(action)

    async def stop(self) -> None:
        """A request is being answered: no deadline until it is."""
        self.busy = True
        self.scope.deadline = math.inf

    def end(self) -> None:
        """The connection is done reading: the watcher has nothing left to watch."""
        self.ended = True
        self.scope.cancel()


WebSocketServer = Callable[[trio.SocketStream, bytes], Awaitable[None]]
_UPGRADE = re.compile(rb"\r\nupgrade:[ \t]*websocket[ \t]*\r\n", re.IGNORECASE)


class HttpConfig(HypercornConfig):
    """Hypercorn's settings, and who serves a connection whose first request is a
    WebSocket upgrade (given the socket and the bytes read from it): None leaves every
    connection to Hypercorn."""

    websockets: WebSocketServer | None = None


class _TCPServer(hypercorn_tcp.TCPServer):
    """Hypercorn's connection on Trio, made to hand WebSocket upgrades to the listener's
    code, to treat a write that collides with its own closing as a closed connection, to
    close whoever cancels the closing task, and to time its idle periods cheaply.

    A connection's first request head is read here: an upgrade goes to `websockets`
    (the dedicated listener's code, which serves one about 2.5 times as fast as
    Hypercorn and Quart: 7,713 against 2,999 cooks a second on 2026-12-02); anything
    else, and an upgrade later on a kept connection, goes to Hypercorn with the bytes
    read. A head not complete within `keep_alive_timeout` closes the connection
    unanswered, as Hypercorn does.

    Hypercorn 0.18 sends the stream's EOF (`_close`) outside the lock that orders its
    writes, and Trio lets no other write start meanwhile: a write there (the WebSocket
    ping task's) raises BusyResourceError, which Hypercorn lets end the whole server. A
    client breaking the protocol while a ping went out did it (Autobahn case 3.3,
    tests/realtime/test_conformance.py). The stream is being closed: the write is
    dropped, as Hypercorn drops one to a broken stream.
    """

    def __init__(
        self,
        app: AppWrapper,
        config: HypercornConfig,
        context: WorkerContext,
        state: LifespanState,
        stream: trio.SSLStream[trio.SocketStream],
    ) -> None:
        super().__init__(app, config, context, state, stream)
        self.idle_task = self._keep_alive = _KeepAliveDeadline(self.config.keep_alive_timeout)
        self._websockets = config.websockets if isinstance(config, HttpConfig) else None
        self._read_first = b""  # what `run` read before Hypercorn, for Hypercorn to read

    async def run(self) -> None:
        if self._websockets is None:
            await super().run()
            return
        stream = cast(trio.SocketStream, self.stream)  # no TLS on the HTTP port
        head = await self._first_head(stream)
        if head is None:
            await close_now(stream)
            return
        end = END_OF_HEAD.search(head)
        if end is not None and _UPGRADE.search(head, 0, end.end()):
            await self._websockets(stream, head)
        else:
            self._read_first = head
            await super().run()

    async def _first_head(self, stream: trio.SocketStream) -> bytes | None:
        """The bytes read until the first request's head is whole (or longer than Hypercorn
        takes); None if the client left or was too slow."""
        received = b""
        with trio.move_on_after(self.config.keep_alive_timeout):
            while len(received) <= self.config.h11_max_incomplete_size:
                try:
                    data = await stream.receive_some(hypercorn_tcp.MAX_RECV)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None  # reset: an error here would end the whole HTTP server
                if not data:
                    return None
                received += data
                if END_OF_HEAD.search(received):
                    return received
            return received
        return None

    async def protocol_send(self, event: Event) -> None:
        # Closing is shielded: the request's task closes a connection that cannot be kept
        # (an answer sent before the body was read), and Quart-Trio cancels that task as
        # the request's messages end; unshielded, the EOF's checkpoint raised Cancelled
        # and the socket stayed open until the client left.
        with trio.CancelScope(shield=isinstance(event, Closed)):
            try:
                await super().protocol_send(event)
            except trio.BusyResourceError:
                await self.protocol.handle(Closed())

    async def _idle_timeout(self) -> None:
        """Close the connection once it has been idle too long, or at shutdown while idle
        (a request being answered at shutdown closes the connection when it ends)."""
        with self._keep_alive.scope:
            await self.context.terminated.wait()
            if self._keep_alive.busy:
                return
        if not self._keep_alive.ended:
            with trio.CancelScope(shield=True):
                await self._initiate_server_close()

    async def _read_data(self) -> None:
        try:
            if self._read_first:
                await self.protocol.handle(RawData(self._read_first))
            await super()._read_data()
        finally:
            self._keep_alive.end()  # or the watcher would hold the connection's task group


hypercorn_run.TCPServer = _TCPServer  # type: ignore[attr-defined]  # what worker_serve creates


class _H11Protocol(hypercorn_h11.H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, made to write an answer at once, not in pieces.

    Hypercorn 0.18 writes an answer's head, then its body, then its end (nothing, for a
    body of known length), each under a lock and a shielded cancel scope, the first two
    a system call each. The head of a final answer is held until what follows it, and
    empty writes are skipped.
    """

    _head = b""  # a final answer's head, not yet written

    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        try:
            data = self.connection.send(event) or b""
        except h11.LocalProtocolError:
            if self.connection.their_state != h11.ERROR:
                raise
            return
        if isinstance(event, h11.Response):
            self._head = data
            return
        data, self._head = self._head + data, b""
        if data:
            await self.send(RawData(data=data))


hypercorn_protocol.H11Protocol = _H11Protocol  # type: ignore[attr-defined]  # what ProtocolWrapper creates


async def _send_pings(self: ws_stream.WSStream) -> None:
    """Hypercorn's keepalive pings, the first one an interval after the upgrade, as the
    listener's (a silent peer is still dropped by the read timeout of two intervals).

    Hypercorn 0.18 pings the moment it accepts a socket, which tells nothing about the
    peer; a client still writing its first frame in pieces when the ping arrives must
    answer between frames, and Autobahn's fuzzing client answered inside its frame,
    corrupting its own stream (cases 6.4.3 and 6.4.4 on the HTTP port only).
    """
    interval = self.config.websocket_ping_interval
    assert interval is not None  # Hypercorn starts this task only with an interval
    while not self.closed:
        await self.context.sleep(interval)
        if not self.closed:
            await self._send_wsproto_event(Ping())


ws_stream.WSStream._send_pings = _send_pings  # type: ignore[method-assign]


async def _handle_events(self: ws_stream.WSStream) -> None:
    """Hypercorn's handling of a WebSocket's incoming events, made to send the close frame
    when wsproto fails the connection (1002 protocol error, 1007 text not UTF-8).

    Hypercorn 0.18 answers a close frame only when the peer sent one, and wsproto reports
    its own parse failures as a CloseConnection event with the connection still open: the
    TCP connection was dropped without the code RFC 6455 (7.1.7) says to send, as the
    listener does (Autobahn's NON-STRICT cases 3.x, 4.x, 5.15 and 6.x on the HTTP port).
    Otherwise as Hypercorn's own method.
    """
    for event in self.connection.events():
        if isinstance(event, WsMessage):
            try:
                self.buffer.extend(event)
            except ws_stream.FrameTooLargeError:
                await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                break
            if event.message_finished:
                assert self.app_put is not None  # set when the handshake was accepted
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state in (ConnectionState.REMOTE_CLOSING, ConnectionState.OPEN):
                await self._send_wsproto_event(event.response())
            await self.send(StreamClosed(stream_id=self.stream_id))


ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]


class HttpFront:
    """The HTTP app as Hypercorn runs it.

    It counts the requests being answered, so shutdown can wait for them. And an
    answer sent before the request's body was read whole (a 404, a 405, a 413, a
    refused upload) gets `Connection: close`: Hypercorn would otherwise read the
    rest of that body as the connection's next request, and the client would hang.
    A request that declares no body has none to read: its connection is kept.
    """

    def __init__(self, app: QuartTrio) -> None:
        self._app = app
        self._active = 0
        self._idle = trio.Event()
        self._idle.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        self._active += 1
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        body_read = not _declares_body(scope["headers"])

        async def reading() -> Any:
            nonlocal body_read
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and not body_read:
                message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
            await send(message)

        try:
            await self._app(scope, reading, sending)
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no request is being answered."""
        await self._idle.wait()


def _declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers announce a body (RFC 9112 6.3: chunked or a length)."""
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0")
        for name, value in headers
    )
