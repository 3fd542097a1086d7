"""Keepalive: ping every connection on a schedule, drop those that stopped answering.

One task serves every connection of the hub, and a ping is a write, not a
task: the transport notes the pong when it reads it. A connection whose
previous ping is still unanswered when the next is due is dropped (its peer is
gone or hopelessly behind); otherwise it gets a new ping. Transports whose server
pings by itself (Hypercorn, for the WebSocket routes on the HTTP port) are
skipped.
"""

from __future__ import annotations

import logging

from realtime.hub import Hub
from realtime.schedule import run_every
from realtime.transport import GOING_AWAY

logger = logging.getLogger("hearth.realtime")


async def run_keepalive(hub: Hub, interval: float) -> None:
    async def sweep() -> None:
        for connection in hub:
            if not connection.transport.pings or connection.closing:
                continue
            if connection.transport.awaiting_pong:
                logger.info("%r dropped: no pong to the last ping", connection)
                connection.abort(GOING_AWAY, "keepalive timeout")
            else:
                connection.ping()

    await run_every(interval, sweep)
