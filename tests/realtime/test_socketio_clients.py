"""The proof: the official Socket.IO clients, each with default options (polling, then the
upgrade) and websocket-only, connect, authenticate, get an ack, live through heartbeats,
see the error events, and disconnect cleanly. Every WebSocket variant runs on both ports."""

from __future__ import annotations

import json
import sys

import httpx
import pytest
import trio

from server import Running
from tests.sio_clients import CLIENTS, install_npm_clients

# Pings every 0.2 s; a pong may take 1 s. The timeout also bounds the polling ->
# WebSocket upgrade, which a starved 2-core machine can stretch past 0.3 s. (The EIO 3
# client's "ping timeout" failures under load were a server bug: a second GET left
# waiting through the upgrade; tests/realtime/test_engineio.py pins the fix.) A heartbeat
# that does not work still fails: the stay outlasts the timeout.
HEARTBEAT = {"socketio": {"ping_interval": 0.2, "ping_timeout": 1.0}}
STAY_MS = 2500  # a dozen heartbeat periods, and more than the first ping plus its timeout


async def _token(http: httpx.AsyncClient) -> tuple[str, int]:
    response = await http.post(
        "/signup", json={"user": {"email": "sio@example.com", "password": "correct horse"}}
    )
    user = response.json()["user"]
    return user["accessToken"], user["id"]


def _expected(user_id: int) -> list[dict[str, object]]:
    return [
        {"step": "connected"},
        {"step": "auth-success", "userId": user_id, "transaction": "t1"},
        {"step": "ack", "userId": user_id, "transaction": "t1"},
        {"step": "stayed", "transport": "websocket"},
        {"step": "tagged-error", "message": "Invalid access token"},
        {"step": "error", "event": "auth", "message": "Invalid access token"},
        {"step": "done"},
    ]


@pytest.mark.settings(**HEARTBEAT)
@pytest.mark.parametrize(
    ("version", "transports", "port_name"),
    [
        ("4", "default", "http"),
        ("4", "websocket", "http"),
        ("4", "websocket", "listener"),
        ("2", "default", "http"),
        ("2", "websocket", "http"),
        ("2", "websocket", "listener"),
    ],
)
async def test_npm_socket_io_client(
    server: Running, http: httpx.AsyncClient, version: str, transports: str, port_name: str
) -> None:
    await trio.to_thread.run_sync(install_npm_clients)
    token, user_id = await _token(http)
    port = server.http_port if port_name == "http" else server.ws_port
    result = await trio.run_process(
        [
            "node",
            str(CLIENTS / "scenario.js"),
            version,
            transports,
            f"http://127.0.0.1:{port}",
            token,
            str(STAY_MS),
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    steps = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert steps == _expected(user_id), result.stderr.decode()[-2000:]
    assert result.returncode == 0


@pytest.mark.settings(**HEARTBEAT)
@pytest.mark.parametrize("transports", ["default", "websocket"])
async def test_python_socketio_client(
    server: Running, http: httpx.AsyncClient, transports: str
) -> None:
    token, user_id = await _token(http)
    result = await trio.run_process(
        [
            sys.executable,
            str(CLIENTS / "python_client.py"),
            transports,
            f"http://127.0.0.1:{server.http_port}",
            token,
            str(STAY_MS / 1000),
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    steps = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert steps == _expected(user_id), result.stderr.decode()[-2000:]
