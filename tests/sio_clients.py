"""Official Socket.IO clients for the tests: the npm ones (installed from the lockfile in
tests/socketio_clients/) and python-socketio's, driven from Trio through a thread; and raw
Engine.IO 4 over trio-websocket, for exact packets."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import socketio
import trio
from trio_websocket import WebSocketConnection

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


async def sio_open(socket: WebSocketConnection) -> dict[str, object]:
    """Read the open packet, connect to "/" (EIO 4), return the handshake."""
    opened = await socket.get_message()
    assert isinstance(opened, str) and opened.startswith("0")
    await socket.send_message("40")
    assert str(await socket.get_message()).startswith('40{"sid":')
    handshake: dict[str, object] = json.loads(opened[1:])
    return handshake


async def sio_receive(socket: WebSocketConnection) -> str:
    """The next message that is not a heartbeat (heartbeats are answered)."""
    with trio.fail_after(5):
        while (message := await socket.get_message()) == "2":
            await socket.send_message("3")
    return str(message)


async def sio_emit(socket: WebSocketConnection, event: str, data: Any) -> None:
    """Emit `event` with `data` (no ack) on a raw Engine.IO 4 socket."""
    await socket.send_message("42" + json.dumps([event, data]))


async def sio_event(socket: WebSocketConnection) -> tuple[str, Any]:
    """The next event received on a raw Engine.IO 4 socket: (name, data)."""
    message = await sio_receive(socket)
    assert message.startswith("42"), message
    event, data = json.loads(message[2:])
    return event, data
