"""The Python peers Hearth is measured against: servers doing the bare minimum.

    python -m scripts.bench.peers websockets-echo | websockets-broadcast
        | trio-websocket-echo | python-socketio-echo

Each listens on 127.0.0.1 on a free port, prints `listening <port>` and serves until
killed: echo sends every message straight back, broadcast sends it to every client,
python-socketio (ASGI, on uvicorn) answers an `echo` event's ack with its data.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from typing import Any

import socketio
import trio
import trio_websocket
import uvicorn
import websockets.asyncio.server


async def _trio_websocket_echo() -> None:
    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            while True:
                await connection.send_message(await connection.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, echo, "127.0.0.1", 0, None)
        print(f"listening {server.port}", flush=True)


async def _websockets(broadcast: bool) -> None:
    clients: set[websockets.asyncio.server.ServerConnection] = set()

    async def serve(connection: websockets.asyncio.server.ServerConnection) -> None:
        clients.add(connection)
        try:
            async for message in connection:
                if broadcast:
                    websockets.asyncio.server.broadcast(clients, message)
                else:
                    await connection.send(message)
        finally:
            clients.discard(connection)

    async with websockets.asyncio.server.serve(serve, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


def _python_socketio_echo() -> None:
    sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])

    async def echo(sid: str, data: Any) -> Any:
        return data

    sio.on("echo", echo)

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    print(f"listening {listening.getsockname()[1]}", flush=True)
    config = uvicorn.Config(socketio.ASGIApp(sio), log_level="warning", ws="websockets-sansio")
    asyncio.run(uvicorn.Server(config).serve(sockets=[listening]))


PEERS: dict[str, Callable[[], None]] = {
    "websockets-echo": lambda: asyncio.run(_websockets(broadcast=False)),
    "websockets-broadcast": lambda: asyncio.run(_websockets(broadcast=True)),
    "trio-websocket-echo": lambda: trio.run(_trio_websocket_echo),
    "python-socketio-echo": _python_socketio_echo,
}

if __name__ == "__main__":
    PEERS[sys.argv[1]]()
