"""HTTP abuse limits on the HTTP port: the body size (413) and slow request headers, each
with its documented answer and no effect on the other clients."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

import settings
from server import Running
from tests.clients import connect, prepare_player, register, user_id_of


def _registration_of_size(email: str, size: int) -> bytes:
    """A JSON /reg body of exactly `size` bytes (trailing blanks are JSON whitespace)."""
    body = json.dumps({"email": email, "password": "correct horse"}).encode()
    return body + b" " * (size - len(body))


async def test_bodies_over_max_body_bytes_are_refused_with_413(
    http: httpx.AsyncClient, config: settings.Settings, server: Running
) -> None:
    """A body of exactly `server.max_body_bytes` is served; one byte more is 413 (declared
    by Content-Length or sent chunked), changes nothing, and other clients are served."""
    limit = config.server.max_body_bytes
    assert limit == 1024 * 1024
    bystander = await register(http)
    prepare_player(config.storage.path, user_id_of(bystander), {1: 1})
    json_type = {"Content-Type": "application/json"}
    async with connect(server.ws_port, bystander["access_token"]) as player:
        at_limit = await http.post(
            "/reg", content=_registration_of_size("at@example.com", limit), headers=json_type
        )
        assert at_limit.status_code == 200, at_limit.text

        over = await http.post(
            "/reg", content=_registration_of_size("over@example.com", limit + 1), headers=json_type
        )

        async def chunks() -> AsyncIterator[bytes]:
            body = _registration_of_size("chunked@example.com", limit + 1)
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        chunked = await http.post("/reg", content=chunks(), headers=json_type)
        for refused in (over, chunked):
            assert refused.status_code == 413, refused.text
            assert refused.json()["error"] == "Request Entity Too Large"
        assert "content-length" not in chunked.request.headers

        for email in ("over@example.com", "chunked@example.com"):  # nobody was registered
            login = await http.post("/auth", json={"email": email, "password": "correct horse"})
            assert login.status_code == 401
        assert await player.request("cook") == {"dishes": 1, "xp": 1}


async def _trickle_headers(port: int, request: bytes) -> tuple[float, bytes]:
    """Open a connection, send `request` (a request line and headers, unfinished), then one
    more header line every second, never the blank line that ends them. Returns the
    (virtual) seconds until the server closed the connection, and what it answered."""
    start = trio.current_time()
    answered = b""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(request)

        async def trickle() -> None:
            for n in itertools.count():
                await trio.sleep(1)
                try:
                    await stream.send_all(f"X-Slow-{n}: 1\r\n".encode())
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            with trio.fail_after(60):
                while True:
                    try:
                        data = await stream.receive_some(65536)
                    except trio.BrokenResourceError:  # reset: our header lines were unread
                        break
                    if not data:
                        break
                    answered += data
            nursery.cancel_scope.cancel()
    return trio.current_time() - start, answered


HEADERS_OF = {
    "http": b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "upgrade": (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    ),
}


# No worker threads: the autojump clock would jump while one works.
@pytest.mark.settings(server={"worker_threads": False})
@pytest.mark.parametrize(
    ("port_name", "request_kind", "deadline"),
    [("http", "http", 5.0), ("http", "upgrade", 5.0), ("listener", "upgrade", 10.0)],
)
async def test_slow_headers_are_dropped(
    autojump_clock: trio.testing.MockClock,
    server: Running,
    http: httpx.AsyncClient,
    config: settings.Settings,
    port_name: str,
    request_kind: str,
    deadline: float,
) -> None:
    """A client that trickles its request headers is disconnected, unanswered, `deadline`
    seconds after it connected (the HTTP port: Hypercorn's keep_alive_timeout, 5 s; the
    listener: its handshake timeout, 10 s), while other clients are served meanwhile."""
    tokens = await register(http)
    prepare_player(config.storage.path, user_id_of(tokens), {1: 1})
    port = server.http_port if port_name == "http" else server.ws_port
    async with trio.open_nursery() as nursery:
        outcome: list[tuple[float, bytes]] = []

        async def slow_client() -> None:
            outcome.append(await _trickle_headers(port, HEADERS_OF[request_kind]))

        nursery.start_soon(slow_client)
        # The slow client is mid-headers: others are served. (Not at 5 s, when the HTTP
        # port closes `http`'s idle connection: the GET could race that close.)
        await trio.sleep(deadline - 1)
        assert (await http.get("/status")).text == "OK"
        async with connect(port, tokens["access_token"]) as player:
            assert await player.request("cook") == {"dishes": 1, "xp": 1}
    dropped_after, answered = outcome[0]
    assert answered == b""
    assert deadline <= dropped_after < deadline + 1
