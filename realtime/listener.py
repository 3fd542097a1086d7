"""The dedicated WebSocket listener: trio-websocket serving every endpoint of the router.

Connections run in a nursery the caller owns, not in the listener's, so
stopping the listener (cancel its task) stops accepting without touching the
connections already open; the caller closes those itself (with 1001 on
shutdown).
"""

from __future__ import annotations

import logging
from functools import partial

import trio
import trio_websocket

from realtime.endpoint import Refusal
from realtime.router import Router
from realtime.transport import ConnectionClosed, Handshake, Message

logger = logging.getLogger("hearth.realtime")


class TrioWebsocketTransport:
    """A trio-websocket connection as a `Transport`."""

    pings = True

    def __init__(self, socket: trio_websocket.WebSocketConnection) -> None:
        self._socket = socket

    async def receive(self) -> Message:
        try:
            return await self._socket.get_message()
        except trio_websocket.ConnectionClosed:
            raise ConnectionClosed from None

    async def send(self, message: Message) -> None:
        try:
            await self._socket.send_message(message)
        except trio_websocket.ConnectionClosed:
            raise ConnectionClosed from None

    async def ping(self) -> None:
        try:
            await self._socket.ping()
        except trio_websocket.ConnectionClosed:
            raise ConnectionClosed from None

    async def close(self, code: int, reason: str) -> None:
        await self._socket.aclose(code, reason)

    async def abort(self) -> None:
        # Closing under an expired deadline skips the closing handshake but
        # still closes the TCP stream (trio-websocket closes it in a finally).
        with trio.move_on_after(0):
            await self._socket.aclose()


def _host(request: trio_websocket.WebSocketRequest) -> list[tuple[str, str]]:
    """The Host header, which trio-websocket (0.12) keeps apart from the others (on the
    wsproto request event it does not expose)."""
    host = getattr(getattr(request, "_event", None), "host", None)
    return [("host", host)] if isinstance(host, str) else []


async def _close_rejected(request: trio_websocket.WebSocketRequest) -> None:
    """Close the TCP stream of a refused handshake.

    trio-websocket (0.12) leaves it open, and its reader waiting, until the
    client hangs up, which a hostile client never does; it has no public way
    to close it, hence the private call.
    """
    close_stream = getattr(getattr(request, "_connection", None), "_close_stream", None)
    if close_stream is not None:
        await close_stream()


async def serve_listener(
    router: Router,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    connections: trio.Nursery,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept WebSockets on (host, port) until cancelled; report the bound port."""

    async def handle(request: trio_websocket.WebSocketRequest) -> None:
        try:
            handshake = Handshake.from_request(
                request.path,
                [
                    *_host(request),
                    *(
                        (name.decode("latin-1"), value.decode("latin-1"))
                        for name, value in request.headers
                    ),
                ],
                str(request.remote),
            )
            admitted = await router.admit(handshake)
            if isinstance(admitted, Refusal):
                await request.reject(admitted.status, body=admitted.body.encode())
                await _close_rejected(request)
                return
            socket = await request.accept()
            await admitted.serve(TrioWebsocketTransport(socket), handshake)
        except (
            trio_websocket.ConnectionClosed,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
        ):
            pass  # the client left during the handshake
        except Exception:
            logger.exception("WebSocket handler failed")

    async with trio.open_nursery() as listener:
        server = await listener.start(
            partial(
                trio_websocket.serve_websocket,
                handle,
                host,
                port,
                None,
                handler_nursery=connections,
                max_message_size=max_message_bytes,
            )
        )
        task_status.started(server.port)
