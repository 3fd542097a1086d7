"""The WebSocket opening handshake, server side (RFC 6455 §4.2): the client's request,
read from its head and checked, and the answers to it.

httptools (llhttp, Node's HTTP parser) reads the head: wsproto's handshake, on h11, took
75-110 µs of the roughly 400 µs of server CPU that opening a WebSocket costs; httptools
takes under 10. The checks are the ones wsproto made: a GET, `Connection: upgrade`,
`Upgrade: websocket`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key` and a `Host`.
Frames after the handshake are still wsproto's (`realtime.listener`).

Invariant: `read_opening` returns only for a well-formed HTTP/1.1 GET that asks for a
WebSocket of version 13; any other head raises `BadOpening`, which carries the answer
to send before closing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import httptools
from wsproto.utilities import generate_accept_token

WEBSOCKET_VERSION = b"13"
OWS = b" \t"  # optional whitespace around a header's value


@dataclass(frozen=True, slots=True)
class Opening:
    """A client's request to open a WebSocket."""

    target: str  # the path and query, as sent
    headers: list[tuple[str, str]]  # every header in order: names lower-case, values trimmed
    key: bytes  # Sec-WebSocket-Key, for the answer's Sec-WebSocket-Accept


class BadOpening(Exception):
    """The head is not a request to open a WebSocket; `answer` says why, in HTTP."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[bytes, bytes]] = ()):
        super().__init__(reason)
        self.answer = refusing(status, reason, headers)


class _Head:
    """What httptools reports of a request's head (its callbacks)."""

    __slots__ = ("complete", "headers", "target")

    def __init__(self) -> None:
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


def read_opening(head: bytes) -> Opening:
    """The opening request whose head (up to and with its empty line) is `head`."""
    fields = _Head()
    parser = httptools.HttpRequestParser(fields)
    try:
        parser.feed_data(head)
    except httptools.HttpParserUpgrade:
        pass  # raised at the end of the head of a request that asks to upgrade
    except httptools.HttpParserError as error:
        raise BadOpening(400, f"malformed request: {error}") from None
    if not fields.complete:
        raise BadOpening(400, "malformed request: the head does not end")
    if parser.get_method() != b"GET" or parser.get_http_version() != "1.1":
        raise BadOpening(400, "a WebSocket opens with an HTTP/1.1 GET")
    headers: list[tuple[str, str]] = []
    connection: list[bytes] = []
    upgrade = version = key = host = None
    for raw_name, raw_value in fields.headers:
        name, value = raw_name.lower(), raw_value.strip(OWS)
        if name == b"connection":
            connection.extend(token.strip(OWS).lower() for token in value.split(b","))
        elif name == b"upgrade":
            upgrade = value
        elif name == b"sec-websocket-version":
            version = value
        elif name == b"sec-websocket-key":
            key = value
        elif name == b"host":
            host = value
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    if b"upgrade" not in connection:
        raise BadOpening(400, "missing header 'Connection: Upgrade'")
    if version != WEBSOCKET_VERSION:
        # RFC 6455 §4.4: name the version this server speaks.
        raise BadOpening(
            426 if version else 400,
            "WebSocket version 13 only",
            [(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)],
        )
    if not key:
        raise BadOpening(400, "missing header 'Sec-WebSocket-Key'")
    if upgrade is None or upgrade.lower() != b"websocket":
        raise BadOpening(400, "missing header 'Upgrade: websocket'")
    if host is None:
        raise BadOpening(400, "missing header 'Host'")
    return Opening(fields.target.decode("ascii"), headers, key)


def accepting(opening: Opening) -> bytes:
    """The answer that opens the WebSocket: no extension, no subprotocol."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + generate_accept_token(opening.key) + b"\r\n\r\n"
    )


def refusing(status: int, body: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """An answer that refuses the opening with `status` and a plain-text `body`; the
    connection is closed after it."""
    data = body.encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode()),
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Length: %d" % len(data),
        b"Connection: close",
        *(name + b": " + value for name, value in headers),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + data
