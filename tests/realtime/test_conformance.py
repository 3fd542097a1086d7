"""What the Autobahn|Testsuite run (`make conformance`) found, kept as regressions."""

from __future__ import annotations

import httpx
import pytest
import trio
import wsproto.events

from realtime.echo import PATH
from server import Running
from tests.clients import raw_websocket

RSV1_TEXT_FRAME = b"\xc1\x80\x00\x00\x00\x00"  # FIN, RSV1, text; masked, empty (case 3.x)


@pytest.mark.settings(realtime={"debug_echo": True, "ping_interval": 0.0001})
async def test_protocol_error_while_hypercorn_pings_does_not_end_the_server(
    server: Running, http: httpx.AsyncClient
) -> None:
    """A client that breaks the protocol is dropped on the HTTP port while Hypercorn's ping
    task may be writing; Hypercorn 0.18 let the ping's BusyResourceError (its `send_eof`
    is not under its send lock) end the whole server (Autobahn case 3.3). Pings every
    0.1 ms make the collision near certain in 100 connections without the fix. (Hypercorn
    serves a WebSocket on the HTTP port when it follows another request on its connection.)
    """
    for _ in range(100):
        async with raw_websocket(server.http_port, PATH, after_request=True) as socket:
            for _ in range(3):  # Hypercorn's ping task is running
                assert isinstance(await socket.next_event(), wsproto.events.Ping)
            await socket.stream.send_all(RSV1_TEXT_FRAME)
            with trio.fail_after(5):
                assert await socket.closed_with() in (1002, None)
    assert (await http.get("/swagger/doc.json")).status_code == 200


@pytest.mark.settings(realtime={"debug_echo": True})
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (RSV1_TEXT_FRAME, 1002),  # protocol error (Autobahn 3.x, 4.x, 5.x)
        (b"\x81\x82\x00\x00\x00\x00\xff\xfe", 1007),  # text that is not UTF-8 (6.x)
    ],
)
async def test_protocol_errors_are_closed_with_their_code(
    ws_port: int, frame: bytes, code: int
) -> None:
    """A frame that breaks the protocol gets a close frame with the RFC 6455 code before the
    connection ends, on both ports (Hypercorn 0.18 dropped the TCP connection without one)."""
    async with raw_websocket(ws_port, PATH) as socket:
        await socket.stream.send_all(frame)
        with trio.fail_after(5):
            assert await socket.closed_with() == code
