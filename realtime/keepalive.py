"""Keepalive: ping every connection on a schedule, drop those that stopped answering.

One task serves every connection of the hub, and a ping is a write, not a task: the
transport notes the pong when it reads it. A connection whose previous ping is still
unanswered when the next is due is dropped (its peer is gone or hopelessly behind);
otherwise it gets a new ping. Transports whose server pings by itself (Hypercorn,
for the WebSocket routes on the HTTP port) are skipped. A sweep pings
`PINGS_PER_TURN` connections at a time, its turns spread evenly over the first
`SWEEP_SPAN` of the interval (over more only where that would bring them under
`TURN_PAUSE` apart: many connections, a short interval), so that neither its pings
nor the pongs they bring back hold up the other tasks for long. So a connection's
pings come about (1 - SWEEP_SPAN) to (1 + SWEEP_SPAN) intervals apart, and a client
has roughly (1 - SWEEP_SPAN) of an interval or more to answer. A sweep that starts a
second late found the loop held (a stalled disk, a paused process): pongs that came
meanwhile may still be unread, so it pings but drops nobody, and the next sweep
judges.
"""

from __future__ import annotations

import logging
import math

import trio

from realtime.hub import Hub
from realtime.schedule import loop_was_held, run_every_late
from realtime.transport import GOING_AWAY

logger = logging.getLogger("hearth.realtime")

# A ping is a system call, and each pong wakes its connection's task: pinging 10,000
# connections in one go held the loop for 150-350 ms, and their pongs, read together,
# held it again. A turn's pongs are read in its pause, before the next turn.
PINGS_PER_TURN = 64
TURN_PAUSE = 0.002  # seconds at least between turns
# The part of the interval a sweep's turns are spread over. Swept in turns 2 ms apart,
# 5,000 connections took a third of a second, and a passive tick that met the sweep
# reached its players about 30 ms later than the ticks before and after it.
SWEEP_SPAN = 0.25


async def run_keepalive(hub: Hub, interval: float) -> None:
    async def sweep(late: float) -> None:
        judging = not loop_was_held(late, "a keepalive sweep")
        connections = list(hub)
        turns = math.ceil(len(connections) / PINGS_PER_TURN)
        pause = max(TURN_PAUSE, interval * SWEEP_SPAN / max(turns, 1))
        for served, connection in enumerate(connections):
            if served and served % PINGS_PER_TURN == 0:
                await trio.sleep(pause)
            # Gone while the sweep let others run: not dropped for want of a pong.
            if connection not in hub or not connection.transport.pings or connection.closing:
                continue
            if not connection.transport.awaiting_pong:
                connection.ping()
            elif judging:
                logger.info("%r dropped: no pong to the last ping", connection)
                connection.abort(GOING_AWAY, "keepalive timeout")

    await run_every_late(interval, sweep)
