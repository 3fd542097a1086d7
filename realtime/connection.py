"""One client connection: its transport, its bounded outbox and its lifetime.

Frames for the client go through `push`, which never waits. With nothing
queued before it, a connection's first frame in a batch of the scheduler goes
straight to the transport if the socket takes it without waiting; otherwise
it joins the connection's outbox and a pump task, started for as long as the
outbox has frames, sends it (an idle connection costs no task for that). So a
burst of pushes to one connection in one batch costs a write for the first and
one for each `PUMP_BATCH` after it (see realtime/batches.py). Frames held back
so never fill the outbox: when it is full the client is not keeping up, and
it is dropped (close 1008) rather than slowing down whoever published.

Invariants: frames reach the client in the order they were pushed; after
`close` the frames already queued are still sent (within `drain_timeout`)
before the close frame; after `abort` nothing more is sent.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import trio

from realtime.batches import current_batches
from realtime.codec import Codec, Outgoing, frames_of
from realtime.ratelimit import TokenBucket
from realtime.transport import (
    NORMAL_CLOSURE,
    POLICY_VIOLATION,
    ConnectionClosed,
    Handshake,
    Message,
    Transport,
)

logger = logging.getLogger("hearth.realtime")
_ids = itertools.count(1)

# Seconds an aborted connection's close frame may take before the socket is dropped.
ABORT_GRACE = 0.5
# The most queued frames the pump sends in one go, and the most a push holds back.
PUMP_BATCH = 64


class Connection:
    # Slots: an instance dict would be a few hundred bytes more per idle connection.
    __slots__ = (
        "_aborted",
        "_batches",
        "_defer_limit",
        "_deferred",
        "_drain_timeout",
        "_expiry",
        "_nursery",
        "_outbox",
        "_outbox_open",
        "_outbox_size",
        "_pumping",
        "_session_scope",
        "_unsent",
        "_written_in",
        "app_state",
        "close_code",
        "close_reason",
        "codec",
        "handshake",
        "id",
        "rate",
        "transport",
        "user_id",
    )

    def __init__(
        self,
        transport: Transport,
        handshake: Handshake,
        codec: Codec,
        *,
        outbox_size: int,
        rate: TokenBucket,
        drain_timeout: float = 5.0,
    ) -> None:
        self.id = next(_ids)
        self.transport = transport
        self.handshake = handshake
        self.codec = codec
        self.rate = rate
        #: The user this connection acts for, once an app has authenticated it.
        self.user_id: int | None = None
        #: Per-app state of this connection (the app that serves the endpoint owns it).
        self.app_state: Any = None
        self.close_code: int | None = None
        self.close_reason = ""
        self._drain_timeout = drain_timeout
        # None in the outbox asks the pump to send what the transport kept back. A list,
        # not a memory channel: no task ever waits on it, and an idle connection's empty
        # list costs 56 bytes where a channel cost 1.4 KiB.
        self._outbox: list[Message | None] = []
        self._outbox_size = outbox_size
        self._outbox_open = True  # closed: what is queued is still sent, nothing joins it
        self._unsent = 0  # frames queued and not yet sent by the pump
        self._pumping = False
        self._session_scope: trio.CancelScope | None = None
        self._expiry: tuple[float, str] | None = None  # (Trio deadline, close reason)
        self._nursery: trio.Nursery | None = None
        self._aborted = False
        self._batches = current_batches()
        self._written_in = -1  # the batch of the last frame written straight to the socket
        # Frames queued only because this batch had a write already (the pump has not
        # taken them), and how many may wait so before they are written with the next.
        self._deferred = False
        self._defer_limit = min(PUMP_BATCH, outbox_size - 1)

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.handshake.path} user={self.user_id}>"

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def push(self, frame: Outgoing) -> None:
        """Send `frame` (or frames, in one write) to the client without waiting: straight
        to the socket when nothing is queued and it takes them, at most once a batch;
        else through the outbox; drop a client whose outbox is full."""
        if frame is None:
            return
        # (`closing` written out: a passive tick comes here 5,000 times.)
        if self.close_code is None:
            if not self._unsent:
                if self._written_in != self._batches.number:
                    if self.transport.send_nowait(frame):
                        self._wrote()
                        return
                else:
                    self._deferred = True  # written to this batch: the rest go together
            elif self._deferred and len(self._outbox) >= self._defer_limit:
                # A long burst: what was held back goes now, with this frame, so frames
                # held by choice never fill a healthy client's outbox.
                frames = (*self._outbox, *frames_of(frame))
                # (Held-back frames only: a backlog's None never joins them.)
                if self.transport.send_nowait(cast("tuple[Message, ...]", frames)):
                    self._outbox.clear()
                    self._unsent = 0
                    self._deferred = False
                    self._wrote()
                    return
        for one in frames_of(frame):
            self._queue(one)

    def _wrote(self) -> None:
        """Note a write straight to the socket: the batch has had its write."""
        self._written_in = self._batches.number
        if self.transport.backlogged:  # the pump sends what the socket did not take
            self._queue(None)

    def ping(self) -> None:
        """Ping the client without waiting (keepalive); `transport.awaiting_pong` until it
        answers."""
        self.transport.ping()
        self._send_backlog()

    def _send_backlog(self) -> None:
        # The socket took part of a direct write: the pump sends the rest, unless a
        # frame already queued will take it along.
        if self.transport.backlogged and not self._unsent:
            self._queue(None)

    def _queue(self, frame: Message | None) -> None:
        if not self._outbox_open:
            return  # closing: frames after close are not sent
        if len(self._outbox) >= self._outbox_size:
            logger.info("%r dropped: outbox full (slow consumer)", self)
            self.abort(POLICY_VIOLATION, "slow consumer")
            return
        self._outbox.append(frame)
        self._unsent += 1
        self._start_pump()

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Stop reading, send what is queued, then close with `code`."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self._outbox_open = False  # what is queued is still sent; nothing more joins it
        if self._session_scope is not None:
            self._session_scope.cancel()

    def abort(self, code: int, reason: str) -> None:
        """Stop at once: queued frames are discarded; the close frame gets a brief chance."""
        self._aborted = True
        self.close(code, reason)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def expire_at(self, unix_time: float, reason: str = "token expired") -> None:
        """Close with 1008 `reason` once the wall clock reaches `unix_time`: when the token
        that authenticated this connection expires."""
        deadline = trio.current_time() + max(0.0, unix_time - time.time())
        self._expiry = (deadline, reason)
        if self._session_scope is not None:
            # A deadline on the session, not a task waiting for it: no task per connection.
            self._session_scope.deadline = deadline

    def _start_pump(self) -> None:
        if not self._pumping and self._nursery is not None:
            self._pumping = True
            self._nursery.start_soon(self._pump)

    async def run(self, session: Callable[[Connection], Awaitable[None]]) -> None:
        """Serve this connection: `session` reads and dispatches while the pump sends.

        Returns when the client has gone or the connection was closed, with the
        transport closed.
        """
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._unsent:  # pushed before the connection ran
                    self._start_pump()
                # The session runs in this task: a cancel scope, not a nursery, ends it.
                with trio.CancelScope() as session_scope:
                    self._session_scope = session_scope
                    if self._expiry is not None:
                        session_scope.deadline = self._expiry[0]
                    if self.closing:
                        session_scope.cancel()
                    with contextlib.suppress(ConnectionClosed):
                        await session(self)
                if self._expiry is not None and trio.current_time() >= self._expiry[0]:
                    self.close(POLICY_VIOLATION, self._expiry[1])  # unless already closing
                # Let the pump send what is queued, then stop it.
                self._outbox_open = False
                nursery.cancel_scope.deadline = trio.current_time() + self._drain_timeout
        finally:
            self._outbox_open = False
            with trio.CancelScope(shield=True):
                grace = ABORT_GRACE if self._aborted else self._drain_timeout
                with trio.move_on_after(grace):
                    await self.transport.close(self.close_code or NORMAL_CLOSURE, self.close_reason)
                await self.transport.abort()

    async def _pump(self) -> None:
        """Send what is queued until nothing is (then return: `_queue` starts it again)."""
        try:
            while True:
                # All that is queued goes out together, as one write where the transport
                # can: a burst of pushes (a join storm, a busy room) then costs the pump
                # one send, and the outbox drains as fast as it fills.
                batch = self._outbox[:PUMP_BATCH]
                del self._outbox[:PUMP_BATCH]
                self._deferred = False
                if not batch:
                    return
                await self.transport.send(*(frame for frame in batch if frame is not None))
                self._unsent -= len(batch)
        except ConnectionClosed:
            # The peer is gone: stop reading too.
            if self._session_scope is not None:
                self._session_scope.cancel()
        finally:
            self._pumping = False
