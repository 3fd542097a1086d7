"""The peers Hearth is measured against: WebSocket echo servers doing the bare minimum.

    python -m scripts.bench.peers trio-websocket|websockets

Each listens on 127.0.0.1 on a free port, prints `listening <port>` and echoes
every message back until killed.
"""

from __future__ import annotations

import asyncio
import sys

import trio
import trio_websocket
import websockets.asyncio.server


async def _trio_websocket_echo() -> None:
    async def echo(request: trio_websocket.WebSocketRequest) -> None:
        socket = await request.accept()
        try:
            while True:
                await socket.send_message(await socket.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, echo, "127.0.0.1", 0, None)
        print(f"listening {server.port}", flush=True)


async def _websockets_echo() -> None:
    async def echo(socket: websockets.asyncio.server.ServerConnection) -> None:
        async for message in socket:
            await socket.send(message)

    async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


PEERS = {
    "trio-websocket": lambda: trio.run(_trio_websocket_echo),
    "websockets": lambda: asyncio.run(_websockets_echo()),
}

if __name__ == "__main__":
    PEERS[sys.argv[1]]()
