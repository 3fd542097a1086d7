"""The debug echo: a WebSocket path that sends every message back, for conformance runs.

Off unless `realtime.debug_echo` is set (scripts/conformance.py sets it to run the
Autobahn fuzzing client against both transports). It is a router `Service` of its
own, not an `Endpoint`: no codec and no rate limit come between the frames and the
transport, so what the fuzzer sees is the transport's own WebSocket handling, with its
limits (a message over `realtime.max_message_bytes` is closed with 1009).
"""

from __future__ import annotations

import contextlib

from realtime.endpoint import Admission
from realtime.transport import ConnectionClosed, Handshake, Transport

PATH = "/debug/echo"


class Echo:
    """Echoes text as text and binary as binary, in order, until the socket closes."""

    path = PATH
    admit: Admission | None = None

    async def serve(self, transport: Transport, handshake: Handshake) -> None:
        with contextlib.suppress(ConnectionClosed):  # the transport closes the socket
            while True:
                await transport.send(await transport.receive())
