"""What the Autobahn|Testsuite run (`make conformance`) found, kept as regressions."""

from __future__ import annotations

import httpx
import pytest
import trio

from realtime.echo import PATH
from server import Running
from tests.clients import raw_websocket

RSV1_TEXT_FRAME = b"\xc1\x80\x00\x00\x00\x00"  # FIN, RSV1, text; masked, empty (case 3.x)


@pytest.mark.settings(realtime={"debug_echo": True, "ping_interval": 0.0001})
async def test_protocol_error_while_hypercorn_pings_does_not_end_the_server(
    server: Running, http: httpx.AsyncClient
) -> None:
    """A client that breaks the protocol at once is closed (1002) on the HTTP port while
    Hypercorn's ping task may be writing; Hypercorn 0.18 let the ping's BusyResourceError
    (its `send_eof` is not under its send lock) end the whole server (Autobahn case 3.3)."""
    for _ in range(30):
        async with raw_websocket(server.http_port, PATH) as socket:
            await socket.stream.send_all(RSV1_TEXT_FRAME)
            with trio.fail_after(5):
                assert await socket.closed_with() in (1002, None)
    assert (await http.get("/swagger/doc.json")).status_code == 200
