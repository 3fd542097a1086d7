"""Keepalive: ping every connection on a schedule, drop those that stopped answering.

One task serves every connection of the hub, and a ping is a write, not a
task: the transport notes the pong when it reads it. A connection whose
previous ping is still unanswered when the next is due is dropped (its peer is
gone or hopelessly behind); otherwise it gets a new ping. Transports whose server
pings by itself (Hypercorn, for the WebSocket routes on the HTTP port) are
skipped. A sweep pings `PINGS_PER_TURN` connections at a time and pauses between
turns, so that neither its pings nor the pongs they bring back hold up the other
tasks for long. A sweep that starts a second late found the loop held (a stalled
disk, a paused process): pongs that came meanwhile may still be unread, so it
pings but drops nobody, and the next sweep judges.
"""

from __future__ import annotations

import logging

import trio

from realtime.hub import Hub
from realtime.schedule import loop_was_held, run_every_late
from realtime.transport import GOING_AWAY

logger = logging.getLogger("hearth.realtime")

# A ping is a system call, and each pong wakes its connection's task: pinging 10,000
# connections in one go held the loop for 150-350 ms, and their pongs, read together,
# held it again. A turn's pongs are read in its pause, before the next turn.
PINGS_PER_TURN = 64
TURN_PAUSE = 0.002  # seconds; 10,000 connections take at least 0.3 s to sweep


async def run_keepalive(hub: Hub, interval: float) -> None:
    async def sweep(late: float) -> None:
        judging = not loop_was_held(late, "a keepalive sweep")
        for served, connection in enumerate(hub):
            if served and served % PINGS_PER_TURN == 0:
                await trio.sleep(TURN_PAUSE)
            # Gone while the sweep let others run: not dropped for want of a pong.
            if connection not in hub or not connection.transport.pings or connection.closing:
                continue
            if not connection.transport.awaiting_pong:
                connection.ping()
            elif judging:
                logger.info("%r dropped: no pong to the last ping", connection)
                connection.abort(GOING_AWAY, "keepalive timeout")

    await run_every_late(interval, sweep)
