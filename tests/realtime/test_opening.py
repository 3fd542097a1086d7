"""The opening handshake: a WebSocket's request read and checked, RFC 6455's own example
answered, and every request that is not a WebSocket's opening answered with its status
and reason, then closed, on both ports."""

from __future__ import annotations

import pytest
import trio

from realtime.opening import BadOpening, Opening, accepting, read_opening
from server import Running

RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key ...
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # ... and its Sec-WebSocket-Accept
OPENING = (
    b"GET /ws?name=x%20y HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nUpgrade: WebSocket\r\n"
    b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + RFC_KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\nOrigin:  http://localhost \r\n\r\n"
)


def test_an_opening_is_read_with_its_target_headers_and_key() -> None:
    """Pass: the target as sent, every header in order with its name in lower case and
    its value trimmed, the key; and the answer is RFC 6455's example, byte for byte."""
    opening = read_opening(OPENING)
    assert opening == Opening(
        target="/ws?name=x%20y",
        headers=[
            ("host", "127.0.0.1:8001"),
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-key", RFC_KEY.decode()),
            ("sec-websocket-version", "13"),
            ("origin", "http://localhost"),
        ],
        key=RFC_KEY,
    )
    assert accepting(opening) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n\r\n"
    )


async def _until_closed(stream: trio.SocketStream) -> bytes:
    received = b""
    while chunk := await stream.receive_some(65536):
        received += chunk
    return received


VERSION_8 = OPENING.replace(b"Version: 13", b"Version: 8")
VERSION_8_ANSWER = (
    b"HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 25\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n"
    b"WebSocket version 13 only"
)


def _answer(status: str, reason: bytes, *headers: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: "
        + str(len(reason)).encode()
        + b"\r\nConnection: close\r\n"
        + b"".join(header + b"\r\n" for header in headers)
        + b"\r\n"
        + reason
    )


REFUSED = [
    pytest.param(
        VERSION_8,
        VERSION_8_ANSWER,
        id="version 8",
    ),
    pytest.param(
        OPENING.replace(b"Sec-WebSocket-Version: 13\r\n", b""),
        _answer("400 Bad Request", b"WebSocket version 13 only", b"Sec-WebSocket-Version: 13"),
        id="no version",
    ),
    pytest.param(
        OPENING.replace(b"Sec-WebSocket-Key: " + RFC_KEY + b"\r\n", b""),
        _answer("400 Bad Request", b"missing header 'Sec-WebSocket-Key'"),
        id="no key",
    ),
    pytest.param(
        OPENING.replace(b"keep-alive, Upgrade", b"keep-alive"),
        _answer("400 Bad Request", b"missing header 'Connection: Upgrade'"),
        id="no connection upgrade",
    ),
    pytest.param(
        OPENING.replace(b"Host: 127.0.0.1:8001\r\n", b""),
        _answer("400 Bad Request", b"missing header 'Host'"),
        id="no host",
    ),
    pytest.param(
        OPENING.replace(b"GET", b"POST"),
        _answer("400 Bad Request", b"a WebSocket opens with an HTTP/1.1 GET"),
        id="post",
    ),
    pytest.param(
        OPENING.replace(b"HTTP/1.1", b"HTTP/1.0"),
        _answer("400 Bad Request", b"a WebSocket opens with an HTTP/1.1 GET"),
        id="http 1.0",
    ),
]


@pytest.mark.parametrize(("head", "answer"), REFUSED)
async def test_a_request_that_is_not_an_opening_is_answered_then_closed(
    ws_port: int, head: bytes, answer: bytes
) -> None:
    """Pass, on both ports: the exact answer (status, reason, and for a version the
    one this server speaks), then the end of the stream."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", ws_port)
        async with stream:
            await stream.send_all(head)
            received = await _until_closed(stream)
    assert received == answer


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(OPENING.replace(b"Origin:", b"Ori gin:"), id="space in a name"),
        pytest.param(OPENING.replace(b"Host: 127", b"Host: \x01127"), id="control byte"),
        pytest.param(OPENING.replace(b"\r\nOrigin", b"\r\n  Origin"), id="folded line"),
        pytest.param(OPENING.replace(b"\r\n", b"\n"), id="bare line feeds"),
    ],
)
def test_a_malformed_head_is_refused_as_a_bad_request(head: bytes) -> None:
    """Pass: BadOpening whose answer is a 400 naming a malformed request."""
    with pytest.raises(BadOpening) as refused:
        read_opening(head)
    assert refused.value.answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\n\r\nmalformed request: " in refused.value.answer


async def test_an_upgrade_to_another_protocol_is_refused_on_the_listener(
    server: Running,
) -> None:
    """(On the HTTP port such a request is Hypercorn's.) Pass: the exact 400, then the end
    of the stream."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            await stream.send_all(OPENING.replace(b"Upgrade: WebSocket", b"Upgrade: h2c"))
            received = await _until_closed(stream)
    assert received == _answer("400 Bad Request", b"missing header 'Upgrade: websocket'")


async def test_a_refused_opening_leaves_the_next_client_served(server: Running) -> None:
    """After a refused opening on the listener, a WebSocket opens on it. Pass: the exact
    426 and the end of that stream, then the exact 101 for RFC 6455's example key."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            await stream.send_all(VERSION_8)
            assert await _until_closed(stream) == VERSION_8_ANSWER
        stream = await trio.open_tcp_stream("127.0.0.1", server.ws_port)
        async with stream:
            await stream.send_all(OPENING)
            received = b""
            while not received.endswith(b"\r\n\r\n"):
                received += await stream.receive_some(1)
    assert received == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n\r\n"
    )
