"""What the realtime core needs of one accepted WebSocket, whichever server accepted it.

The wsproto listener and the Quart routes each wrap their socket in a
`Transport`; nothing above this module knows which one it holds. `Handshake`
is what the opening request said: path, query and headers, read before the
upgrade so an endpoint can refuse it with an HTTP status; an admitted connection
keeps it without the headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

# Close codes Hearth sends (RFC 6455 section 7.4.1).
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001  # server shutdown
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008  # slow consumer, connection cap, token expired, logged out
MESSAGE_TOO_BIG = 1009

Message = str | bytes
# One message, or several to go out together (in one write where the transport can).
Messages = Message | tuple[Message, ...]


class ConnectionClosed(Exception):
    """The peer is gone or the socket is closing: no more messages either way."""


class Transport(Protocol):
    #: Whether `ping` can be used; transports whose server pings on its own say False.
    pings: bool
    #: True from a `ping` until a pong arrives.
    awaiting_pong: bool

    async def receive(self) -> Message:
        """The next message; raises ConnectionClosed when there is none to come."""
        ...

    async def send(self, *messages: Message) -> None:
        """Send these messages in order (as one write where the transport can); raises
        ConnectionClosed if the socket is closed."""
        ...

    def send_nowait(self, messages: Messages) -> bool:
        """Hand `messages` to the socket without waiting, if nothing else is being sent;
        True if they were taken, False if they were not (then `send` them).

        What the socket could not take at once the transport keeps, and sends
        before anything else on the next `send`; until then `backlogged` is True.
        Transports that cannot write without waiting always answer False.
        """
        ...

    @property
    def backlogged(self) -> bool:
        """Whether part of a message taken by `send_nowait` waits for the next `send`."""
        ...

    def ping(self) -> None:
        """Send a ping without waiting (after what is being sent, if anything is) and set
        `awaiting_pong`; the next pong clears it. What the socket does not take at once
        waits as with `send_nowait`."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with `code`, waiting for the closing handshake; never raises."""
        ...

    async def abort(self) -> None:
        """Drop the connection at once, without a closing handshake; never raises."""
        ...


NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Handshake:
    """The opening request of a WebSocket: what endpoints may check before accepting it."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    remote: str

    @classmethod
    def from_request(cls, target: str, headers: list[tuple[str, str]], remote: str) -> Handshake:
        """Build from a request target (`/path?query`) and raw header pairs."""
        parts = urlsplit(target)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return cls(parts.path or "/", query, joined, remote)

    def admitted(self) -> Handshake:
        """The handshake as a connection keeps it once admitted, for its whole life: without
        its headers, which only admission reads (the Origin) and which from a browser are
        a KiB or two per socket (its user agent, languages, cookies). The listener and
        Engine.IO's sessions keep this; Quart keeps every request's headers itself."""
        return replace(self, headers=NO_HEADERS)
