"""The debug echo for conformance runs: off by default, an exact echo on both ports when on."""

from __future__ import annotations

import pytest
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from realtime.echo import PATH
from tests.clients import close_code


async def test_echo_is_off_by_default(ws_port: int) -> None:
    """Without `realtime.debug_echo` the path is unknown: HTTP 404 before the upgrade."""
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(f"ws://127.0.0.1:{ws_port}{PATH}"):
            pass
    assert rejected.value.status_code == 404


@pytest.mark.settings(realtime={"debug_echo": True, "max_message_bytes": 1024})
async def test_echo_sends_text_as_text_and_binary_as_binary(ws_port: int) -> None:
    """Messages come back unchanged and in order, each of its own type; the server's
    message size limit still holds (1009)."""
    # Empty first: the listener once took the first message of a process for one it had
    # framed already when it was empty (Autobahn's case 1.1.1).
    messages: list[str | bytes] = ["", "hello", "ünïcødé ✓", "", b"\x00\xffbinary", b"", "x" * 1024]
    async with open_websocket_url(f"ws://127.0.0.1:{ws_port}{PATH}") as socket:
        for message in messages:
            await socket.send_message(message)
        for message in messages:
            echoed = await socket.get_message()
            assert type(echoed) is type(message)
            assert echoed == message
        await socket.send_message(b"y" * 1025)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.get_message()
        assert close_code(closed.value) == 1009
