"""Socket.IO clients for the tests: the official npm ones (installed from the lockfile in
tests/socketio_clients/), python-socketio's (driven from Trio through a thread), and a bare
Engine.IO 4 WebSocket for protocol edges and for many clients at once."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import socketio
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

CLIENTS = Path(__file__).resolve().parent / "socketio_clients"
_install_lock = threading.Lock()


def install_npm_clients() -> None:
    """`npm ci` the official clients once (their lockfile pins the versions)."""
    with _install_lock:
        if (
            not (CLIENTS / "node_modules" / "sio2").is_dir()
            or not (CLIENTS / "node_modules" / "sio4").is_dir()
        ):
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=CLIENTS,
                check=True,
                stdout=subprocess.DEVNULL,
            )


class Client:
    """python-socketio's client, recording every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.sio.on("*", self._record)

    def _record(self, event: str, *args: Any) -> None:
        self._events.put((event, args[0] if args else None))

    async def connect(self, url: str, *, websocket_only: bool = False) -> None:
        transports = ["websocket"] if websocket_only else None
        await trio.to_thread.run_sync(
            lambda: self.sio.connect(url, transports=transports, wait_timeout=10)
        )

    async def emit(self, event: str, data: Any) -> None:
        await trio.to_thread.run_sync(self.sio.emit, event, data)

    async def call(self, event: str, data: Any) -> Any:
        return await trio.to_thread.run_sync(lambda: self.sio.call(event, data, timeout=10))

    async def next_event(self, seconds: float = 10.0) -> tuple[str, Any]:
        """The next event received (name, data); raises queue.Empty after `seconds`."""
        return await trio.to_thread.run_sync(lambda: self._events.get(timeout=seconds))

    async def expect(self, event: str) -> Any:
        name, data = await self.next_event()
        assert name == event, (name, data)
        return data

    async def silent(self, seconds: float = 0.5) -> None:
        try:
            got = await self.next_event(seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected event {got!r}")

    async def disconnect(self) -> None:
        await trio.to_thread.run_sync(self.sio.disconnect)


# -- a bare Engine.IO 4 WebSocket ------------------------------------------------------------

PATH = "/socket.io/"


def websocket_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}{PATH}?EIO=4&transport=websocket"


async def open_namespace(socket: WebSocketConnection) -> dict[str, object]:
    """Read the open packet, connect to "/" (EIO 4), return the handshake."""
    opened = await socket.get_message()
    assert isinstance(opened, str) and opened.startswith("0")
    await socket.send_message("40")
    assert str(await socket.get_message()).startswith('40{"sid":')
    handshake: dict[str, object] = json.loads(opened[1:])
    return handshake


async def receive_packet(socket: WebSocketConnection, seconds: float = 5.0) -> str:
    """The next message that is not a heartbeat (pings are answered)."""
    with trio.fail_after(seconds):
        while (message := await socket.get_message()) == "2":
            await socket.send_message("3")
    return str(message)


class RawSocketIO:
    """Socket.IO events with acks over a bare WebSocket (`call` waits for the ack)."""

    def __init__(self, socket: WebSocketConnection) -> None:
        self.socket = socket
        self._acks = itertools.count(1)

    async def call(self, event: str, data: Any, seconds: float = 10.0) -> Any:
        """Emit `event` with an ack id; return the ack's data (other events are skipped)."""
        ack = f"43{next(self._acks)}["
        await self.socket.send_message(f"42{ack[2:-1]}{json.dumps([event, data])}")
        while not (packet := await receive_packet(self.socket, seconds)).startswith(ack):
            pass
        return json.loads(packet[len(ack) - 1 :])[0]


@asynccontextmanager
async def raw_socketio(port: int) -> AsyncIterator[RawSocketIO]:
    """A Socket.IO client connected to "/" over a bare WebSocket."""
    async with open_websocket_url(websocket_url(port)) as socket:
        await open_namespace(socket)
        yield RawSocketIO(socket)


async def emit_event(socket: WebSocketConnection, event: str, data: Any) -> None:
    """Emit `event` with `data`, asking for no ack."""
    await socket.send_message("42" + json.dumps([event, data]))


async def receive_event(socket: WebSocketConnection) -> tuple[str, Any]:
    """The next event received: (name, data)."""
    message = await receive_packet(socket)
    assert message.startswith("42"), message
    event, data = json.loads(message[2:])
    return event, data
