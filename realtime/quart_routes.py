"""The WebSocket routes of the HTTP app: every endpoint of the router, on the HTTP port too.

They serve an upgrade that follows another request on a kept connection: a connection
opened for a WebSocket is handed to the listener's code before Hypercorn reads it
(`realtime.http_server`). Hypercorn accepts these sockets, enforces the message size (in
characters for text; the transport holds text to the same limit in bytes) and sends the
keepalive pings itself (its `websocket_ping_interval`); a peer that stops answering is
dropped by its `read_timeout`. Quart cancels the route's task when the client
disconnects.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import msgspec
import trio
from quart import Response, Websocket, request, websocket
from quart_schema import hide
from quart_trio import QuartTrio

from realtime.endpoint import Refusal
from realtime.engineio import EngineError, EngineServer
from realtime.router import OriginPolicy, Router
from realtime.transport import MESSAGE_TOO_BIG, ConnectionClosed, Handshake, Message, Messages

logger = logging.getLogger("hearth.realtime")


class QuartTransport:
    """A Quart websocket as a `Transport`."""

    pings = False
    awaiting_pong = False

    def __init__(self, socket: Websocket, max_message_bytes: int) -> None:
        self._socket = socket
        self._max = max_message_bytes

    async def receive(self) -> Message:
        message = await self._socket.receive()
        if message is None:
            return b""  # Quart gives None for an empty binary frame
        # Hypercorn counts a text message's characters, so up to four times the limit in
        # bytes got through: hold text to the documented limit in bytes, as the listener
        # does. (A text of n characters is at most 4n bytes: most need no encoding.)
        if (
            isinstance(message, str)
            and len(message) > self._max // 4
            and len(message.encode()) > self._max
        ):
            await self.close(MESSAGE_TOO_BIG, f"message over {self._max} bytes")
            raise ConnectionClosed
        return message

    async def send(self, *messages: Message) -> None:
        for message in messages:
            await self._socket.send(message)

    def send_nowait(self, messages: Messages) -> bool:
        return False  # Quart's socket writes only by awaiting

    backlogged = False

    def ping(self) -> None:
        raise NotImplementedError("Hypercorn pings these sockets itself")

    async def close(self, code: int, reason: str) -> None:
        # Quart raises if the socket is already closed or the client is gone.
        with contextlib.suppress(Exception):
            await self._socket.close(code, reason)

    async def abort(self) -> None:
        # `close` has already handed Hypercorn the close frame; it drops the socket.
        return


def mount(app: QuartTrio, router: Router, *, max_message_bytes: int) -> None:
    """Serve every endpoint of `router` as a Quart WebSocket route."""
    for endpoint in router:
        app.add_websocket(
            endpoint.path,
            endpoint=f"ws:{endpoint.path}",
            view_func=_view(router, max_message_bytes),
        )


def _view(router: Router, max_message_bytes: int) -> Any:
    async def view() -> Response | None:
        socket: Websocket = websocket._get_current_object()  # type: ignore[attr-defined]
        handshake = Handshake.from_request(
            f"{socket.path}?{socket.query_string.decode('latin-1')}",
            list(socket.headers.items()),
            socket.remote_addr or "",
        )
        admitted = await router.admit(handshake)
        if isinstance(admitted, Refusal):
            return Response(admitted.body, status=admitted.status)
        await socket.accept()
        try:
            await admitted.serve(QuartTransport(socket, max_message_bytes), handshake)
        except trio.Cancelled:
            raise
        except Exception:
            logger.exception("WebSocket handler failed")
        return None

    return view


def mount_polling(app: QuartTrio, engine: EngineServer, origins: OriginPolicy) -> None:
    """Engine.IO's HTTP long-polling on `engine.path` (GET waits for packets, POST sends)."""

    async def poll() -> Response:
        origin = request.headers.get("Origin")
        if not origins.allows(origin, request.headers.get("Host")):
            # No CORS headers: naming the refused Origin (with credentials) would let its
            # page read the answer.
            return _engine_error(EngineError(403, 4, "Forbidden"), None)
        if request.method == "OPTIONS":
            response = Response("", status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            return _with_cors(response, origin)
        query = request.args.to_dict()
        handshake = Handshake.from_request(
            request.full_path, list(request.headers.items()), request.remote_addr or ""
        )
        try:
            if request.method == "GET":
                body = await engine.polling_get(query, handshake)
            else:
                raw: bytes = await request.get_data(as_text=False)  # type: ignore[assignment]
                await engine.polling_post(query, raw.decode("utf-8", "replace"))
                body = "ok"
        except EngineError as refusal:
            return _engine_error(refusal, origin)
        response = Response(body, content_type="text/plain; charset=UTF-8")
        return _with_cors(response, origin)

    app.add_url_rule(
        engine.path,
        endpoint="engine.io polling",
        view_func=hide(poll),  # Engine.IO's transport, not a REST route: not in the OpenAPI
        methods=["GET", "POST", "OPTIONS"],
    )


def _engine_error(refusal: EngineError, origin: str | None) -> Response:
    body = msgspec.json.encode({"code": refusal.code, "message": refusal.message})
    response = Response(body, status=refusal.status, content_type="application/json")
    return _with_cors(response, origin)


def _with_cors(response: Response, origin: str | None) -> Response:
    if origin is not None:  # an allowed origin (a refused one is passed as None)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
    return response
