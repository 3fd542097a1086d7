"""The WebSocket routes of the HTTP app: every endpoint of the router, on the HTTP port too.

Hypercorn accepts these sockets, enforces the message size and sends the
keepalive pings itself (its `websocket_ping_interval`); a peer that stops
answering is dropped by its `read_timeout`. Quart cancels the route's task
when the client disconnects.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio
from quart import Response, Websocket, websocket
from quart_trio import QuartTrio

from realtime.endpoint import Endpoint, Refusal
from realtime.router import Router
from realtime.transport import Handshake, Message

logger = logging.getLogger("hearth.realtime")


class QuartTransport:
    """A Quart websocket as a `Transport`."""

    pings = False

    def __init__(self, socket: Websocket) -> None:
        self._socket = socket

    async def receive(self) -> Message:
        message = await self._socket.receive()
        return b"" if message is None else message  # Quart gives None for an empty binary frame

    async def send(self, message: Message) -> None:
        await self._socket.send(message)

    async def ping(self) -> None:
        raise NotImplementedError("Hypercorn pings these sockets itself")

    async def close(self, code: int, reason: str) -> None:
        # Quart raises if the socket is already closed or the client is gone.
        with contextlib.suppress(Exception):
            await self._socket.close(code, reason)

    async def abort(self) -> None:
        # `close` has already handed Hypercorn the close frame; it drops the socket.
        return


def mount(app: QuartTrio, router: Router) -> None:
    """Serve every endpoint of `router` as a Quart WebSocket route."""
    for endpoint in router:
        app.add_websocket(
            endpoint.path,
            endpoint=f"ws:{endpoint.path}",
            view_func=_view(router),
        )


def _view(router: Router) -> Any:
    async def view() -> Response | None:
        socket: Websocket = websocket._get_current_object()  # type: ignore[attr-defined]
        handshake = Handshake.from_request(
            f"{socket.path}?{socket.query_string.decode('latin-1')}",
            list(socket.headers.items()),
            socket.remote_addr or "",
        )
        admitted = router.admit(handshake)
        if isinstance(admitted, Refusal):
            return Response(admitted.body, status=admitted.status)
        await socket.accept()
        endpoint: Endpoint[Any] = admitted
        try:
            await endpoint.serve(QuartTransport(socket), handshake)
        except trio.Cancelled:
            raise
        except Exception:
            logger.exception("WebSocket handler failed")
        return None

    return view
