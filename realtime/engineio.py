"""Engine.IO 3 and 4, server side, on Trio: sessions over HTTP long-polling and WebSocket.

A session starts with a polling GET or a WebSocket without `sid`, and is then
the `Transport` of one realtime `Connection`: `receive` gives the payloads of
the client's message packets, `send` sends one as a message packet. Control
packets never leave this module: the heartbeat (EIO 4: the server pings and
waits for the pong; EIO 3: the client pings and the server answers), close,
noop, and the polling -> WebSocket upgrade (`2probe`, `3probe`, a noop for
every GET until the client sends `5`).

One task beats for every session (`EngineServer.run`): a task of its own cost a
session 3.4 KiB. Every `min(pingInterval, pingTimeout) / 4` seconds it pings the EIO 4
sessions that are due and drops those whose ping went unanswered past pingTimeout, or
(EIO 3) that were silent past pingInterval + pingTimeout; a beat may come that step late.
A sweep that starts a second late (the loop was held) drops nobody: what the clients
sent meanwhile may be unread. The next sweep judges.

Invariants: a session has at most one waiting GET (a second one is a 400);
packets reach the client in the order they were sent, across the upgrade; a
session silent past pingInterval + pingTimeout is closed, and one whose WebSocket
closes ends then; everything a session holds is released when it closes.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import msgspec
import trio

from realtime.endpoint import Admission
from realtime.keepalive import PINGS_PER_TURN, TURN_PAUSE
from realtime.schedule import loop_was_held, run_every_late
from realtime.transport import ConnectionClosed, Handshake, Message, Messages, Transport

logger = logging.getLogger("hearth.engineio")

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
RECORD_SEPARATOR = "\x1e"  # between packets of an EIO 4 polling payload
POLLING_BACKLOG = 64  # packets queued for a polling client before `send` waits
# A session's polling events hold this until a poll or an emit has to wait (each makes
# its own Event then): already set, and shared, so a session never polled makes none.
_NO_WAIT = trio.Event()
_NO_WAIT.set()


class EngineError(Exception):
    """A request Engine.IO refuses: answered with `status` and {"code", "message"}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


TRANSPORT_UNKNOWN = (400, 0, "Transport unknown")
SESSION_UNKNOWN = (400, 1, "Session ID unknown")
BAD_REQUEST = (400, 3, "Bad request")
UNSUPPORTED_VERSION = (400, 5, "Unsupported protocol version")


@dataclass(frozen=True)
class EngineOptions:
    ping_interval: float  # seconds
    ping_timeout: float  # seconds
    max_payload: int  # bytes of one polling POST or WebSocket message

    @property
    def beat_step(self) -> float:
        """Seconds between the heartbeat's sweeps, and so how late a beat may come."""
        return min(self.ping_interval, self.ping_timeout) / 4


class Beat(enum.Enum):
    """What the heartbeat owes a session on a sweep."""

    REST = enum.auto()
    PING = enum.auto()
    DROP = enum.auto()


def encode_payload(packets: list[str], eio: int) -> str:
    """Packets as one polling response body."""
    if eio == 4:
        return RECORD_SEPARATOR.join(packets)
    return "".join(f"{_js_length(packet)}:{packet}" for packet in packets)


def decode_payload(body: str, eio: int) -> list[str]:
    """A polling request body's packets; raises ValueError when it is malformed."""
    if eio == 4:
        return body.split(RECORD_SEPARATOR)
    packets = []
    position = 0
    while position < len(body):
        colon = body.index(":", position)
        length = int(body[position:colon])
        if not 0 < length <= len(body) * 2:
            raise ValueError("bad packet length")
        start = colon + 1
        end = _advance(body, start, length)
        packets.append(body[start:end])
        position = end
    return packets


def _js_length(text: str) -> int:
    """The length JavaScript sees: UTF-16 code units (EIO 3 counts those)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _advance(text: str, start: int, units: int) -> int:
    """The index `units` UTF-16 code units after `start`."""
    index = start
    while units > 0:
        if index >= len(text):
            raise ValueError("packet longer than the payload")
        units -= 2 if ord(text[index]) > 0xFFFF else 1
        index += 1
    if units < 0:
        raise ValueError("packet length splits a character")
    return index


class EngineSession:
    """One Engine.IO session, as the `Transport` of its realtime connection."""

    pings = False  # the heartbeat is Engine.IO's own
    awaiting_pong = False

    def __init__(
        self,
        sid: str,
        eio: int,
        options: EngineOptions,
        handshake: Handshake,
        socket: Transport | None = None,
    ) -> None:
        """`socket`: the WebSocket the session is opened on; None if a polling GET opens it."""
        self.sid = sid
        self.eio = eio
        self.options = options
        self.handshake = handshake
        self.closed = False
        self.socket = socket  # the WebSocket, once there is one
        # A session a polling GET opens runs in a task of its own (`EngineServer._live`),
        # which its WebSocket's task, once it upgrades, cancels when the socket goes and
        # waits for: its cancel scope, and the event set when it is done. A session
        # opened on its WebSocket runs in that socket's task, and needs neither.
        self.tasks: trio.CancelScope | None = None
        self.finished: trio.Event | None = None
        # Where polling POSTs leave the client's messages for `receive`, until it reads the
        # WebSocket instead; a session opened on its WebSocket has none.
        self._inbox_in: trio.MemorySendChannel[Message] | None = None
        self._inbox: trio.MemoryReceiveChannel[Message] | None = None
        if socket is None:
            self._inbox_in, self._inbox = trio.open_memory_channel[Message](16)
            self.tasks, self.finished = trio.CancelScope(), trio.Event()
        self._polled: list[str] = []  # packets for the next polling GET
        self._poll_ready = self._poll_room = _NO_WAIT
        self.poll_waiting = False
        self.upgrading = False  # probed over a WebSocket, waiting for its `5`
        # The heartbeat's state (`beat`). Any packet from the client is a sign of life.
        self.heard = False
        self._pinged = False  # EIO 4: a ping is out, and nothing was heard since
        now = trio.current_time()
        self._next_ping = now + options.ping_interval  # EIO 4
        self._deadline = now + options.ping_interval + options.ping_timeout

    def open_packet(self, upgrades: list[str]) -> str:
        handshake: dict[str, object] = {
            "sid": self.sid,
            "upgrades": upgrades,
            "pingInterval": int(self.options.ping_interval * 1000),
            "pingTimeout": int(self.options.ping_timeout * 1000),
        }
        if self.eio == 4:
            handshake["maxPayload"] = self.options.max_payload
        return OPEN + msgspec.json.encode(handshake).decode()

    # -- Transport ----------------------------------------------------------------------

    def take_socket(self, socket: Transport) -> None:
        """Go on over `socket`, which this session's task reads itself from now on (once
        the inbox, where polling POSTs put their messages, is read to its end)."""
        self.socket = socket
        if self._inbox_in is not None:
            self._inbox_in.close()

    async def receive(self) -> Message:
        if self._inbox is not None:
            try:
                return await self._inbox.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                self._inbox = None  # read to its end: the WebSocket is next
        if self.socket is None:
            raise ConnectionClosed
        return await self._read_socket(self.socket)

    async def _read_socket(self, socket: Transport) -> Message:
        # Read here, not in the socket's task: handing each message over from there cost
        # a second task's switch per message.
        while not self.closed:
            try:
                message = await self._unpack(await socket.receive())
            except ValueError:
                break  # the connection closes the session, and the socket with 1000
            if message is not None:
                return message
        raise ConnectionClosed

    async def send(self, *messages: Message) -> None:
        texts = [message for message in messages if isinstance(message, str)]
        if len(texts) < len(messages):
            raise ValueError("Hearth sends no binary Engine.IO messages")
        await self.emit(*(MESSAGE + text for text in texts))

    def send_nowait(self, messages: Messages) -> bool:
        # Only over a WebSocket: a polling client takes its packets when it asks. Binary
        # messages are left to `send`, which refuses them.
        if self.socket is None or self.closed:
            return False
        if isinstance(messages, str):
            return self.socket.send_nowait(MESSAGE + messages)
        if isinstance(messages, bytes):
            return False
        texts = [message for message in messages if isinstance(message, str)]
        if len(texts) < len(messages):
            return False
        return self.socket.send_nowait(tuple(MESSAGE + text for text in texts))

    @property
    def backlogged(self) -> bool:
        return self.socket is not None and self.socket.backlogged

    def ping(self) -> None:
        raise NotImplementedError("Engine.IO has its own heartbeat")

    async def close(self, code: int, reason: str) -> None:
        if self.socket is not None:
            if not self.closed:  # else the client closed it, or it timed out
                with contextlib.suppress(ConnectionClosed):
                    await self.socket.send(CLOSE)
            await self.socket.close(code, reason)  # the WebSocket's close, either way
        elif not self.closed:
            self._polled.append(CLOSE)
            self._poll_ready.set()
        self.end()

    async def abort(self) -> None:
        if self.socket is not None:
            await self.socket.abort()
        self.end()

    # -- the session's life -------------------------------------------------------------

    def end(self) -> None:
        """Close the session: no more packets either way; waiters are released."""
        if self.closed:
            return
        self.closed = True
        if self._inbox_in is not None:
            self._inbox_in.close()
        self._poll_ready.set()
        self._poll_room.set()

    async def emit(self, *packets: str) -> None:
        """Send Engine.IO packets, in order, by the current transport."""
        if self.closed:
            raise ConnectionClosed
        if self.socket is not None:
            await self.socket.send(*packets)
            return
        for packet in packets:
            while len(self._polled) >= POLLING_BACKLOG:  # the client is not polling
                self._poll_room = trio.Event()
                await self._poll_room.wait()
                if self.closed:
                    raise ConnectionClosed
            self._polled.append(packet)
            self._poll_ready.set()

    async def poll(self) -> list[str]:
        """The packets for a polling GET, waiting until there is one (or the session ends).

        During an upgrade a GET with nothing to take gets a noop at once: the client
        sends `5` only once its last GET is back.
        """
        if self.upgrading and not self._polled:
            return [NOOP]
        while not self._polled and not self.closed:
            self._poll_ready = trio.Event()
            await self._poll_ready.wait()
        packets, self._polled = self._polled, []
        self._poll_room.set()
        if self.closed and not packets:
            packets = [CLOSE]
        return packets

    async def received(self, packet: str | bytes) -> None:
        """Handle one packet a polling POST brought, passing its message on to `receive`
        (a session on a WebSocket reads its packets itself)."""
        message = await self._unpack(packet)
        if message is not None:
            assert self._inbox_in is not None  # POSTs are refused once there is a WebSocket
            with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await self._inbox_in.send(message)  # closed: the session is over

    async def _unpack(self, packet: str | bytes) -> Message | None:
        """The message in one packet from the client; None for a control packet, which
        is handled here. Raises ValueError for a packet Engine.IO does not have.

        Binary packets (a WebSocket binary frame; `b<base64>` in an EIO 4 poll)
        are binary messages: passed on as bytes.
        """
        self.heard = True
        if isinstance(packet, bytes):
            return packet[1:] if self.eio == 3 else packet
        kind, body = packet[:1], packet[1:]
        if kind == MESSAGE:
            return body
        if kind == "b" and self.eio == 4:
            return b""  # its content is never read: only counted
        if kind == PING and self.eio == 3:
            await self.emit(PONG + body)
        elif kind == CLOSE:
            self.end()
        elif kind not in (PONG, NOOP):
            raise ValueError(f"unexpected packet {kind!r}")
        return None

    def beat(self, now: float) -> Beat:
        """The heartbeat's sweep at `now`: whether to ping this session, drop it, or not."""
        if self.closed:
            return Beat.REST
        if self.eio == 3:  # the client pings; silence past interval + timeout ends it
            if self.heard:
                self.heard = False
                self._deadline = now + self.options.ping_interval + self.options.ping_timeout
                return Beat.REST
            return Beat.DROP if now >= self._deadline else Beat.REST
        if self._pinged and not self.heard:
            return Beat.DROP if now >= self._deadline else Beat.REST
        self._pinged = False
        if now < self._next_ping:
            return Beat.REST
        self._pinged, self.heard = True, False
        self._next_ping = now + self.options.ping_interval
        self._deadline = now + self.options.ping_timeout
        return Beat.PING

    def ping_nowait(self) -> bool:
        """Send a ping, by the current transport, if it can go without waiting."""
        if self.socket is not None:
            return self.socket.send_nowait(PING)
        if len(self._polled) >= POLLING_BACKLOG:
            return False
        self._polled.append(PING)
        self._poll_ready.set()
        return True

    async def ping_when_possible(self) -> None:
        """Send a ping, waiting as long as the transport needs (until the session ends).

        This runs in the Engine.IO server's nursery, beside every polling session: a
        transport's failure ends this session only, never that nursery.
        """
        try:
            await self.emit(PING)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("engine.io session %s: ping failed", self.sid)
            await self.abort()


class EngineServer:
    """The `/socket.io/` service: sessions on both transports, each served as a connection.

    `serve_connection(session)` (the Socket.IO endpoint) runs for each session: in the
    task of the WebSocket a session was opened on, else (opened by a polling GET) in
    this server's nursery (`run`), where the one heartbeat task runs too.
    """

    def __init__(
        self,
        path: str,
        options: EngineOptions,
        serve_connection: Callable[[EngineSession], Awaitable[None]],
    ) -> None:
        self.path = path
        self.options = options
        self._serve_connection = serve_connection
        self.admit: Admission | None = None
        self._sessions: dict[str, EngineSession] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self) -> None:
        """Host the sessions, and beat for them, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await run_every_late(self.options.beat_step, self._sweep)

    async def _sweep(self, late: float) -> None:
        """Ping the sessions that are due, drop the silent ones.

        Pings go `PINGS_PER_TURN` at a time, as the WebSocket keepalive's do: sessions
        opened together come due together. One that cannot be sent at once (a backlogged
        or polling-full client) is sent by a task of its own.
        """
        assert self._nursery is not None
        judging = not loop_was_held(late, "an engine.io sweep")
        pinged = 0
        for session in list(self._sessions.values()):
            # The clock read for each: the sweep pauses, and a deadline counts from its ping.
            beat = session.beat(trio.current_time())
            if beat is Beat.DROP and judging:
                logger.info("engine.io session %s timed out", session.sid)
                await session.abort()
            elif beat is Beat.PING:
                if not session.ping_nowait():
                    self._nursery.start_soon(session.ping_when_possible)
                pinged += 1
                if pinged % PINGS_PER_TURN == 0:
                    await trio.sleep(TURN_PAUSE)

    def _start(
        self, handshake: Handshake, eio: int, socket: Transport | None = None
    ) -> EngineSession:
        """A new session (on `socket`, if opened on a WebSocket), registered; its task is
        the caller's to run (`_live`)."""
        if self._nursery is None:
            raise EngineError(503, 3, "Engine.IO is not running")
        sid = secrets.token_urlsafe(15)
        session = EngineSession(sid, eio, self.options, handshake.admitted(), socket)
        self._sessions[session.sid] = session
        return session

    async def _live(self, session: EngineSession, greeting: str | None = None) -> None:
        """Run the session's connection (after sending `greeting`, the open packet of a
        session opened on its WebSocket); forget the session after."""
        try:
            with session.tasks or contextlib.nullcontext():
                if greeting is not None:
                    await session.emit(greeting)
                await self._serve_connection(session)
        finally:
            session.end()
            self._sessions.pop(session.sid, None)
            if session.finished is not None:
                session.finished.set()

    # -- HTTP long-polling --------------------------------------------------------------

    async def polling_get(self, query: Mapping[str, str], handshake: Handshake) -> str:
        """The body of a polling GET: the open packet for a new session, else queued packets."""
        eio = _version(query)
        if query.get("transport") != "polling":
            raise EngineError(*TRANSPORT_UNKNOWN)
        sid = query.get("sid")
        if sid is None:
            session = self._start(handshake, eio)
            assert self._nursery is not None  # `_start` checked
            self._nursery.start_soon(self._live, session)  # it outlives this request
            return encode_payload([session.open_packet(["websocket"])], eio)
        session = self._session(sid, eio)
        if session.socket is not None:
            raise EngineError(*BAD_REQUEST)  # upgraded: polling is over
        if session.poll_waiting:
            session.end()
            raise EngineError(*BAD_REQUEST)  # a second concurrent GET
        session.poll_waiting = True
        try:
            packets = await session.poll()
        finally:
            session.poll_waiting = False
        return encode_payload(packets, eio)

    async def polling_post(self, query: Mapping[str, str], body: str) -> None:
        eio = _version(query)
        session = self._session(query.get("sid", ""), eio)
        if session.socket is not None:
            raise EngineError(*BAD_REQUEST)  # upgraded: polling is over
        if len(body.encode()) > self.options.max_payload:
            session.end()
            raise EngineError(413, 3, "Payload too large")
        try:
            packets = decode_payload(body, eio)
            for packet in packets:
                if packet[:1] == UPGRADE:
                    raise ValueError("upgrade over polling")
                await session.received(packet)
        except ValueError:
            session.end()
            raise EngineError(*BAD_REQUEST) from None

    def _session(self, sid: str, eio: int) -> EngineSession:
        session = self._sessions.get(sid)
        if session is None or session.eio != eio:
            raise EngineError(*SESSION_UNKNOWN)
        return session

    # -- WebSocket (the router calls this for both ports) --------------------------------

    async def serve(self, transport: Transport, handshake: Handshake) -> None:
        query = handshake.query
        session: EngineSession | None = None
        try:
            eio = _version(query)
            if query.get("transport") != "websocket":
                raise EngineError(*TRANSPORT_UNKNOWN)
            sid = query.get("sid")
            if sid is None:
                # A session opened on its WebSocket lives as long as it: it runs in this
                # task, not in one more task of its own (a task less per connection).
                session = self._start(handshake, eio, transport)
                await self._live(session, greeting=session.open_packet([]))
            else:
                session = self._session(sid, eio)
                if session.socket is not None or not await self._upgrade(session, transport):
                    raise EngineError(*BAD_REQUEST)
                # The session's task reads the socket and closes it: one closer only, or
                # a close frame under way could be cut short (1006 for the client).
                assert session.finished is not None  # only a polling session upgrades
                await session.finished.wait()
        except (EngineError, ConnectionClosed):
            pass
        finally:
            if session is not None and session.socket is transport and session.tasks is not None:
                # Its socket is gone (closed, or Quart cancelled this task on a
                # disconnect), and with it the session: not a heartbeat later.
                session.tasks.cancel()
            await transport.close(1000, "")

    async def _upgrade(self, session: EngineSession, transport: Transport) -> bool:
        """Probe, pause polling, switch: the client sends 2probe, then 5."""
        with trio.move_on_after(self.options.ping_timeout):
            if await transport.receive() != PING + "probe":
                return False
            await transport.send(PONG + "probe")
            session.upgrading = True
            try:
                await session.emit(NOOP)  # releases the waiting GET; later ones return at once
                while (packet := await transport.receive()) != UPGRADE:
                    if packet != NOOP:
                        return False
            finally:
                session.upgrading = False
            queued, session._polled = session._polled, []
            session.take_socket(transport)
            for packet in queued:
                if packet != NOOP:
                    await transport.send(packet)
            return True
        return False


def _version(query: Mapping[str, str]) -> int:
    version = query.get("EIO")
    if version not in ("3", "4"):
        raise EngineError(*UNSUPPORTED_VERSION)
    return int(version)
