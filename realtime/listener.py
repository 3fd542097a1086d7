"""The dedicated WebSocket listener: wsproto driven directly on Trio streams.

No reader task and no message queue per connection: the connection's own
read loop parses frames as it reads, answers pings inline, and hands each
whole message up. That is the fast path every endpoint of the router is
served on; the HTTP port serves the same endpoints through Quart.

The opening handshake is read and answered by `realtime.opening`. Incoming
frames are cut and, in the common case, decoded by
`realtime.frames.ClientFrames`; wsproto handles every other frame.

A message pushed while the socket is idle is written straight to it
(`send_nowait`): no task switch and no Trio checkpoint per frame, which is
most of what a frame used to cost in a busy room or a passive tick. Frames
are unmasked and uncompressed on the server side, so the bytes of one message
are the same on every connection: a room's broadcast is framed once.

Invariants: a message over `max_message_bytes` (its bytes, text or binary)
closes the connection with 1009; at most one task writes to a stream at a
time; a refused handshake closes its TCP stream at once.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import re
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Literal, NoReturn

import trio
from wsproto import ConnectionType
from wsproto.connection import Connection as WebSocketProtocol
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)

from realtime.endpoint import Refusal
from realtime.frames import ClientFrames, Read, data_frame, ping_frame
from realtime.last import LastAnswer
from realtime.opening import BadOpening, Opening, accepting, read_opening, refusing
from realtime.router import Router, Service
from realtime.transport import MESSAGE_TOO_BIG, ConnectionClosed, Handshake, Message, Messages

logger = logging.getLogger("hearth.realtime")

# accept() failures that pass once connections close or memory frees (trio's own list).
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY = 0.1  # seconds to wait before accepting again after such a failure
HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to send its opening request
RECEIVE_SIZE = 65536
# Reading first, after letting the other tasks run, is cheaper than waiting for the
# socket first (Trio's wait re-arms the socket in epoll: a system call, and Python on
# both ends), but only while the client's next message is there by then: a busy
# server's round trips. For a client that pauses between messages the read would find
# nothing nearly every time, a failed system call and a raised error on top of the
# wait. So a read-first that finds nothing (a miss) sends the connection's next few
# receives back to waiting first: one, then twice as many for each miss in a row, up
# to MAX_WAITS_AFTER_A_MISS; a read-first that finds data starts over at one.
MAX_WAITS_AFTER_A_MISS = 64
# A request's head ends at its first empty line. h11 (the HTTP port's parser) takes a bare
# LF as a line's end too; `realtime.opening` refuses such a head with a 400.
END_OF_HEAD = re.compile(rb"\n\r?\n")
MAX_HEAD_BYTES = 16384  # the most of an unfinished head read: h11's limit on the HTTP port


_last_frame = LastAnswer(data_frame)  # a broadcast frames its message once


class WsprotoTransport:
    """One accepted WebSocket on a Trio socket stream, as a `Transport`."""

    # Slots: an instance dict would be a few hundred bytes more per idle connection.
    __slots__ = (
        "_backlog",
        "_backoff",
        "_closed",
        "_fd",
        "_frames",
        "_max",
        "_parts",
        "_peer_gone",
        "_peer_left",
        "_reading",
        "_send_lock",
        "_size",
        "_stream",
        "_waits",
        "_ws",
        "awaiting_pong",
    )

    pings = True

    def __init__(
        self,
        stream: trio.SocketStream,
        ws: WebSocketProtocol,
        max_message_bytes: int,
        received: bytes = b"",
    ) -> None:
        """`received`: what the client sent after its opening request, before the answer."""
        self._stream = stream
        self._fd = stream.socket.fileno()
        self._ws = ws
        self._frames = ClientFrames(ws, max_message_bytes, received)
        self._backlog = b""  # what the socket did not take of a `send_nowait`
        self._max = max_message_bytes
        # Made by the first write that may wait: an idle connection's writes never do.
        self._send_lock: trio.StrictFIFOLock | None = None
        # The parts of a fragmented message so far: made by its first part, which
        # most connections never see (whole messages are read by `ClientFrames`).
        self._parts: list[str | bytes] | None = None
        self._size = 0
        self._closed = False  # no more frames go out
        self._peer_left = False  # its close frame, or EOF, arrived
        self._peer_gone: trio.Event | None = None  # made only when a close waits for it
        self._reading = False
        # Receives left that wait first, and how many the last miss sent back to waiting
        # (0 once a read-first found data). A new connection waits first for a while.
        self._waits = self._backoff = MAX_WAITS_AFTER_A_MISS
        self.awaiting_pong = False

    async def receive(self) -> Message:
        while True:
            item = self._take()
            if item is Read.MORE:
                await self._read()
            elif item is Read.TOO_BIG:
                await self.close(MESSAGE_TOO_BIG, f"message over {self._max} bytes")
                raise ConnectionClosed
            elif isinstance(item, (str, bytes)):
                return item
            elif item is Read.PONG:
                self.awaiting_pong = False  # any pong: an unsolicited one is a heartbeat too
            else:
                message = await self._handle(item)
                if message is not None:
                    return message

    def _take(self) -> Message | Event | Literal[Read.MORE, Read.TOO_BIG, Read.PONG]:
        """The next frame's message if it is the common frame, PONG for a pong, else
        wsproto's event for it.

        Not a coroutine: one more coroutine in the stack of every connection waiting in
        `_read` cost 0.4 KiB per idle connection.
        """
        while True:
            item = self._frames.next()
            if item is not Read.WSPROTO:
                return item
            for event in self._ws.events():
                return event  # a whole frame makes one event at most

    async def _read(self) -> None:
        if self._peer_left:
            raise ConnectionClosed
        self._reading = True
        try:
            data = await self._receive()
        finally:
            self._reading = False
        if not data:
            self._gone()
            raise ConnectionClosed
        self._frames.feed(data)

    async def _receive(self) -> bytes:
        """The next bytes from the socket; b"" once it is closed, broken or at EOF.

        Reads first, after a checkpoint, unless recent reads-first found the socket
        empty (`MAX_WAITS_AFTER_A_MISS`); else waits for the socket first and reads after.
        A read that filled the buffer may have left more: the next one reads first.
        """
        try:
            reading_first = not self._waits
            if reading_first:
                await trio.lowlevel.checkpoint()
            else:
                self._waits -= 1
                await trio.lowlevel.wait_readable(self._fd)
            while True:
                if self._stream.socket.fileno() < 0:  # closed: the number may be reused
                    return b""
                try:
                    data = os.read(self._fd, RECEIVE_SIZE)
                except BlockingIOError:
                    if reading_first:  # a miss
                        reading_first = False
                        self._backoff = min(2 * self._backoff, MAX_WAITS_AFTER_A_MISS) or 1
                        self._waits = self._backoff
                    await trio.lowlevel.wait_readable(self._fd)
                    continue
                if reading_first:
                    self._backoff = 0  # a hit: the next miss sends back one receive
                if len(data) == RECEIVE_SIZE:
                    self._waits = 0
                return data
        except (trio.ClosedResourceError, OSError):
            return b""

    def _gone(self) -> None:
        self._closed = True
        self._peer_left = True
        if self._peer_gone is not None:
            self._peer_gone.set()

    async def _handle(self, event: Event) -> Message | None:
        if isinstance(event, (TextMessage, BytesMessage)):
            self._size += len(event.data.encode() if isinstance(event, TextMessage) else event.data)
            if self._size > self._max:
                await self.close(MESSAGE_TOO_BIG, f"message over {self._max} bytes")
                raise ConnectionClosed
            if self._parts is None:
                self._parts = []
            self._parts.append(event.data)  # type: ignore[arg-type]
            if not event.message_finished:
                return None
            parts, self._parts, self._size = self._parts, None, 0
            if isinstance(event, TextMessage):
                return parts[0] if len(parts) == 1 else "".join(parts)  # type: ignore[arg-type]
            return parts[0] if len(parts) == 1 else b"".join(parts)  # type: ignore[arg-type]
        if isinstance(event, Ping):
            await self._send(event.response())
        elif isinstance(event, Pong):
            self.awaiting_pong = False  # any pong: an unsolicited one is a heartbeat too
        elif isinstance(event, CloseConnection):
            if not self._closed:
                self._closed = True
                await self._send(event.response())
            self._gone()
            raise ConnectionClosed
        return None

    async def _send(self, *events: Event) -> None:
        await self._write(b"".join(self._ws.send(event) for event in events))

    async def _write(self, data: bytes) -> None:
        if self._send_lock is None:
            self._send_lock = trio.StrictFIFOLock()
        async with self._send_lock:
            # A ping may join the backlog while this writes: it goes out before the lock does.
            while data or self._backlog:
                data, self._backlog = self._backlog + data, b""
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._closed = True
                    raise ConnectionClosed from None
                except trio.Cancelled:
                    # Part of `data` may be out: a frame after it (even the close frame)
                    # would be garbage to the client, so nothing more is sent.
                    self._closed = True
                    raise
                data = b""

    async def send(self, *messages: Message) -> None:
        if self._closed:
            raise ConnectionClosed
        data = b"".join(map(_last_frame.of, messages))
        if not self._backlog and not self._sending:
            # Nothing ahead of it: written now, without the lock and Trio's `send_all`
            # (a Socket.IO session's first two packets went that way: 9% of its opening).
            # A cancelled caller is told so before anything goes, as by `send_all`.
            await trio.lowlevel.checkpoint_if_cancelled()
            self._write_nowait(data)
            if not self._backlog:
                await trio.lowlevel.cancel_shielded_checkpoint()  # it is out: no Cancelled
                return
            data = b""  # the rest waits in the backlog, which `_write` sends first
        await self._write(data)

    def send_nowait(self, messages: Messages) -> bool:
        if self._closed or self._backlog or self._sending:
            return False
        if isinstance(messages, tuple):
            self._write_nowait(b"".join(map(_last_frame.of, messages)))
        else:
            self._write_nowait(_last_frame.of(messages))
        return True

    def _write_nowait(self, frame: bytes) -> None:
        """Write `frame` now; what the socket does not take waits in the backlog."""
        try:
            written = os.write(self._fd, frame)
        except BlockingIOError:
            written = 0
        except OSError:
            written = 0  # the next `send` meets the broken socket and ends the connection
        self._backlog = frame[written:]

    @property
    def _sending(self) -> bool:
        return self._send_lock is not None and self._send_lock.locked()

    @property
    def backlogged(self) -> bool:
        return bool(self._backlog)

    def ping(self) -> None:
        if self._closed:
            return
        self.awaiting_pong = True
        frame = ping_frame(struct.pack("!I", random.getrandbits(32)))
        if self._backlog or self._sending:
            self._backlog += frame  # the write under way, or the one due, takes it along
        else:
            self._write_nowait(frame)

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame and wait (as the caller's deadline allows) for the reply."""
        if not self._closed:
            self._closed = True
            try:
                await self._send(CloseConnection(code=code, reason=reason))
                if self._reading:  # that task's read will see the reply
                    self._peer_gone = trio.Event()
                    await self._peer_gone.wait()
                else:
                    # Messages and pings after our close frame are not answered.
                    while not isinstance(item := self._take(), CloseConnection):
                        if item is Read.TOO_BIG:
                            break  # its reply cannot be read past that frame
                        if item is Read.MORE:
                            await self._read()
            except ConnectionClosed:
                pass
        await self.abort()

    async def abort(self) -> None:
        self._closed = True
        await close_now(self._stream)


async def _handshake(stream: trio.SocketStream, received: bytes) -> tuple[Opening, bytes] | None:
    """Read the opening request (its start already `received`), and what came after it;
    None if the client left, was too slow, or sent a head over `MAX_HEAD_BYTES`. Raises
    BadOpening for a head that is not a WebSocket's opening request.

    Bytes after the head (frames a client should not send before the answer, but may)
    are the frame reader's.
    """
    fd = stream.socket.fileno()
    deadline = trio.current_time() + HANDSHAKE_TIMEOUT
    while len(received) <= MAX_HEAD_BYTES:
        head_end = END_OF_HEAD.search(received)
        if head_end is not None:
            return read_opening(received[: head_end.end()]), received[head_end.end() :]
        data = await _receive_by(fd, deadline)
        if not data:
            return None
        received += data
    return None


async def _receive_by(fd: int, deadline: float) -> bytes:
    """The next bytes from the socket `fd`; b"" at its end, or once `deadline` has passed.

    Waits only when there is nothing to read yet, and only then under a cancel scope:
    most clients' request is there by the time it is read, and a scope for each of
    them cost about 4% of opening a Socket.IO session.
    """
    while True:
        try:
            return os.read(fd, RECEIVE_SIZE)
        except BlockingIOError:
            pass
        with trio.move_on_at(deadline) as waited:
            await trio.lowlevel.wait_readable(fd)
        if waited.cancelled_caught:
            return b""


async def serve_stream(
    router: Router, max_message_bytes: int, stream: trio.SocketStream, received: bytes = b""
) -> None:
    """Serve one TCP connection as the listener does: its opening request (of which
    `received` was already read, by the HTTP port), then its WebSocket; close it after."""
    try:
        accepted = await _accept(router, max_message_bytes, stream, received)
        if accepted is not None:
            service, transport, handshake = accepted
            await service.serve(transport, handshake)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # the client broke the handshake or left
    except Exception:
        logger.exception("WebSocket handler failed")
    finally:
        await close_now(stream)


async def close_now(stream: trio.SocketStream) -> None:
    """Close `stream` at once; never raises.

    What `trio.aclose_forcefully` does, without its cancelled scope: the Cancelled it
    raised and caught cost about 100 µs a connection, five times the close itself, and
    10,000 clients leaving together held the loop for over a second.
    """
    stream.socket.close()
    await trio.lowlevel.cancel_shielded_checkpoint()


async def _accept(
    router: Router, max_message_bytes: int, stream: trio.SocketStream, received: bytes
) -> tuple[Service, WsprotoTransport, Handshake] | None:
    """Read the opening request and accept it or refuse it; None once refused or abandoned.

    Of the handshake only what the connection needs outlives this call: its
    HTTP parser and buffers (a few KiB per connection) do not.
    """
    try:
        opened = await _handshake(stream, received)
    except BadOpening as refused:
        await stream.send_all(refused.answer)
        return None
    if opened is None:
        return None
    opening, received = opened
    peer_host, peer_port = stream.socket.getpeername()[:2]
    handshake = Handshake.from_request(opening.target, opening.headers, f"{peer_host}:{peer_port}")
    admitted = await router.admit(handshake)
    if isinstance(admitted, Refusal):
        await stream.send_all(refusing(admitted.status, admitted.body))
        return None
    await stream.send_all(accepting(opening))
    transport = WsprotoTransport(
        stream, WebSocketProtocol(ConnectionType.SERVER), max_message_bytes, received
    )
    return admitted, transport, handshake.admitted()


async def serve_listener(
    router: Router,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    connections: trio.Nursery,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept WebSockets on (host, port) until cancelled; report the bound port.

    Connections run in `connections`, so cancelling this task stops accepting
    without touching the connections already open.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    handler = partial(serve_stream, router, max_message_bytes)
    async with trio.open_nursery() as listening:
        for listener in listeners:
            listening.start_soon(_accept_forever, listener, handler, connections)
        task_status.started(listeners[0].socket.getsockname()[1])


async def _accept_forever(
    listener: trio.abc.Listener[trio.SocketStream],
    handler: Callable[[trio.SocketStream], Awaitable[None]],
    connections: trio.Nursery,
) -> NoReturn:
    """Run `handler` in `connections` for each stream `listener` accepts.

    `trio.serve_listeners` does this too, but runs every handler under a coroutine of
    its own (kept for the connection's life) that closes the stream again with
    `trio.aclose_forcefully`, whose cancelled scope raised and caught a Cancelled for
    every connection that ended. `serve_stream` closes its own stream. Like Trio, an
    accept that fails for want of descriptors or memory is retried after a pause.
    """
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as error:
                if error.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                logger.error(
                    "accept failed (%s); retrying in %g s", os.strerror(error.errno), ACCEPT_RETRY
                )
                await trio.sleep(ACCEPT_RETRY)
            else:
                connections.start_soon(handler, stream)
