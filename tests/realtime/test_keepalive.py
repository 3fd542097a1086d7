"""Keepalive on the autojump clock: a client that answers pings stays, a silent one is dropped."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing
import wsproto.events
from trio_websocket import open_websocket_url

from realtime.connection import Connection
from realtime.envelope import EnvelopeCodec
from realtime.hub import Hub
from realtime.keepalive import PINGS_PER_TURN, run_keepalive
from realtime.ratelimit import TokenBucket
from realtime.transport import Handshake
from server import Running
from tests.clients import raw_websocket
from tests.orders_clients import customer
from tests.realtime.test_connection import FakeTransport, _connection, _idle

INTERVAL = 30.0  # the default ping_interval


async def _silent_client(port: int, target: str) -> float:
    """Connect, never answer a ping; return when the server dropped us (virtual seconds)."""
    start = trio.current_time()
    async with raw_websocket(port, target) as socket:
        pings = 0
        while (event := await socket.next_event()) is not None:
            pings += isinstance(event, wsproto.events.Ping)
            if isinstance(event, wsproto.events.CloseConnection):
                return trio.current_time() - start
    assert pings >= 1
    return trio.current_time() - start


# No worker threads: the autojump clock would jump while one works (a sweep's commit).
@pytest.mark.settings(server={"worker_threads": False})
@pytest.mark.parametrize("port_name", ["listener", "http"])
@pytest.mark.parametrize("app", ["clicker", "orders"])
async def test_silent_clients_are_dropped_and_answering_ones_stay(
    autojump_clock: trio.testing.MockClock,
    server: Running,
    http: httpx.AsyncClient,
    port_name: str,
    app: str,
) -> None:
    port = server.ws_port if port_name == "listener" else server.http_port
    target = "/ws" if app == "clicker" else f"/?token={(await customer(http, 1))[0]}"
    async with open_websocket_url(f"ws://127.0.0.1:{port}{target}") as healthy:
        if app == "orders":
            await healthy.get_message()  # connected
        dropped_after = await _silent_client(port, target)
        if port_name == "listener":
            # Pinged at 30 s, found unanswered when the next ping is due (60 s): dropped.
            assert 2 * INTERVAL <= dropped_after <= 2 * INTERVAL + 1
        else:
            # Hypercorn pings; its read timeout (two intervals) ends the socket, which it
            # closes once its ping task next wakes (60 s, or 90 s when the ping came first).
            assert 2 * INTERVAL <= dropped_after <= 3 * INTERVAL + 1
        await trio.sleep(5 * INTERVAL)
        await healthy.send_message("not json")  # trio-websocket answers pings by itself
        assert "error" in await healthy.get_message()
        assert healthy.closed is None


class _StuckTransport(FakeTransport):
    """A socket whose buffers are full and whose peer never reads: every write waits."""

    pings = True

    def ping(self) -> None:
        self.awaiting_pong = True  # the ping cannot get out either: no pong will come


async def test_a_client_stuck_in_a_quiet_room_is_dropped_by_keepalive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Too few frames ever fill its outbox, so only keepalive can find it out.
    hub = Hub(max_connections_per_user=4)
    transport = _StuckTransport(reading=False)
    connection = Connection(
        transport,
        Handshake("/ws", {}, {}, "test"),
        EnvelopeCodec(),
        outbox_size=256,
        rate=TokenBucket(10, 10),
    )
    hub.attach(connection)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_keepalive, hub, INTERVAL)

        async def serve() -> None:
            await connection.run(_idle)
            nursery.cancel_scope.cancel()

        nursery.start_soon(serve)
        await trio.testing.wait_all_tasks_blocked()
        connection.push(connection.codec.encode_push("last words", {}))  # the pump is stuck
        with trio.fail_after(2 * INTERVAL + 1):
            await trio.sleep_forever()  # until serve() returns
    assert (connection.close_code, connection.close_reason) == (1001, "keepalive timeout")
    assert transport.aborted


class _UnansweredTransport(FakeTransport):
    """An idle socket whose last ping got no pong."""

    pings = True
    awaiting_pong = True


class _AnsweringTransport(FakeTransport):
    """An idle socket whose client answers every ping at once; notes when each came."""

    pings = True

    def __init__(self) -> None:
        super().__init__(reading=True)
        self.pinged_at: list[float] = []

    def ping(self) -> None:
        self.pinged_at.append(trio.current_time())


async def test_a_sweep_spreads_its_turns_over_a_quarter_of_the_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub(max_connections_per_user=4)
    transports = [_AnsweringTransport() for _ in range(3 * PINGS_PER_TURN + 1)]
    for transport in transports:
        hub.attach(_connection(transport))
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_keepalive, hub, INTERVAL)
        await trio.sleep(2 * INTERVAL + INTERVAL / 2)
        nursery.cancel_scope.cancel()
    # Four turns, 7.5 s / 4 apart: the last of the four pings one connection.
    turns = [INTERVAL + turn * 1.875 for turn in range(4)]
    sweep = [turn for turn in turns[:3] for _ in range(PINGS_PER_TURN)] + [turns[3]]
    assert sorted(time - start for transport in transports for time in transport.pinged_at) == (
        sorted(sweep + [time + INTERVAL for time in sweep])
    )
    assert all(len(transport.pinged_at) == 2 for transport in transports)


async def test_a_sweep_drops_nobody_that_left_while_it_paused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hub = Hub(max_connections_per_user=4)
    connections = [
        _connection(_UnansweredTransport(reading=True)) for _ in range(2 * PINGS_PER_TURN)
    ]
    for connection in connections:
        hub.attach(connection)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_keepalive, hub, INTERVAL)
        await trio.sleep(INTERVAL + 1)  # the second turn comes 3.75 s after the first
        assert sum(connection.closing for connection in connections) == PINGS_PER_TURN
        left = next(connection for connection in connections if not connection.closing)
        hub.detach(left)
        await trio.sleep(4)
        nursery.cancel_scope.cancel()
    assert [connection for connection in connections if not connection.closing] == [left]


class _CountedTransport(_UnansweredTransport):
    """An idle socket whose last ping got no pong yet; counts the pings it is sent."""

    def __init__(self) -> None:
        super().__init__(reading=True)
        self.pinged = 0

    def ping(self) -> None:
        self.pinged += 1
        self.awaiting_pong = True


async def test_a_sweep_after_the_loop_was_held_drops_nobody(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The loop was held past a sweep's time (a stalled disk, a paused process), and the
    pong that came meanwhile is read only after that sweep ran. Pass: that sweep drops
    nobody; the next one, on time, pings the connection whose pong was read and drops the
    one that never answered."""
    hub = Hub(max_connections_per_user=4)
    answering, silent = _CountedTransport(), _CountedTransport()
    connections = [_connection(answering), _connection(silent)]
    for connection in connections:
        hub.attach(connection)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_keepalive, hub, INTERVAL)
        await trio.sleep(INTERVAL - 1)
        autojump_clock.jump(4)  # held: the sweep due at INTERVAL starts 3 s late
        await trio.sleep(0.5)
        assert [connection.closing for connection in connections] == [False, False]
        answering.awaiting_pong = False  # its pong, read at last
        await trio.sleep(INTERVAL)
        nursery.cancel_scope.cancel()
    assert (answering.pinged, connections[0].closing) == (1, False)
    assert (silent.pinged, connections[1].close_reason) == (0, "keepalive timeout")
