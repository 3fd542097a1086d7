"""The benchmark's workloads: each starts its own Hearth and the peers it is compared
with, drives them with the same Node load generator, and returns result rows.

Invariant: a row's `ratio` is Hearth's figure over a peer's figure from the same run;
its target and verdict come from issue 7's table, so the record says plainly where
Hearth stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.harness import (
    clicker_players,
    cpu_seconds,
    hearth,
    node,
    node_session,
    orders_customers,
    parties_event,
    peer,
    read_report,
    repeatable_upgrades,
    rss_kib,
    write_json,
)

ROUND_TRIP = "round trips/s"
# A delivery order in city 1 of the seeded menu: 2 goulash with sour cream and a tea.
ORDER = {
    "city_id": 1,
    "order_type": "delivery",
    "items": [{"item_id": 1, "quantity": 2, "modifiers": [1]}, {"item_id": 6, "quantity": 1}],
    "payment_method": "card",
    "delivery_street": "Тверская",
    "delivery_house": "7",
}
# Prices grow geometrically, so a player affords about 400 buys even with MONEY; enough
# players for a run of 15 s at 10,000 buys/s.
MONEY = 2**62
BUYERS = 400
ORDERING_CUSTOMERS = 20
PASSIVE_UPGRADE = 19  # the seeded catalogue's cheapest money-per-second upgrade
FAN_OUT_MEMBERS = 1000
IDLE_CONNECTIONS = 10_000
IDLE_SOCKETIO = 5000  # socket.io-client sessions (the garage's and channels' clients)
TICK_PLAYERS = 5000


@dataclass
class Options:
    directory: Path
    connections: int
    warmup: float
    duration: float
    hold: float  # seconds idle connections are held
    tick_seconds: float  # seconds passive ticks are watched


@dataclass
class Row:
    workload: str
    hearth: str  # what Hearth did
    measured: float
    unit: str
    peer: str | None = None
    peer_measured: float | None = None
    target: str = ""
    passed: bool | None = None  # None: reported, not judged
    # The server's CPU time per round trip (per commit, for durable writes) over the
    # measured window, in microseconds: less at the mercy of a busy host than a rate,
    # so the figure to compare code by.
    cpu_us: float | None = None
    peer_cpu_us: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.measured / self.peer_measured if self.peer_measured else None

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "hearth": self.hearth,
            "measured": round(self.measured, 3),
            "unit": self.unit,
            "peer": self.peer,
            "peer_measured": None if self.peer_measured is None else round(self.peer_measured, 3),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": self.target,
            "pass": self.passed,
            "cpu_us": _rounded(self.cpu_us),
            "peer_cpu_us": _rounded(self.peer_cpu_us),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def cpu_us_per(measured: dict[str, Any], operations: int) -> float | None:
    """Microseconds of the watched server's CPU per operation in the window, if watched."""
    seconds: float | None = measured.get("cpu_seconds")
    return None if seconds is None or not operations else seconds / operations * 1e6


def versus(
    workload: str,
    hearth_does: str,
    measured: dict[str, Any],
    peer_name: str,
    peer_measured: dict[str, Any],
    at_least_times: float | None = None,
) -> Row:
    """Round trips per second against a peer's; judged when the issue sets a multiple."""
    row = Row(
        workload,
        hearth_does,
        measured["per_second"],
        ROUND_TRIP,
        peer_name,
        peer_measured["per_second"],
        cpu_us=cpu_us_per(measured, measured["count"]),
        peer_cpu_us=cpu_us_per(peer_measured, peer_measured["count"]),
    )
    if at_least_times is not None:
        row.target = f">= {at_least_times}x {peer_name}"
        row.passed = (row.ratio or 0) >= at_least_times and measured["errors"] == 0
    return row


def bounded(
    workload: str,
    hearth_does: str,
    measured: float,
    unit: str,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    peer_name: str | None = None,
    peer_measured: float | None = None,
) -> Row:
    """A figure with an absolute bound, next to a peer's figure where there is one."""
    row = Row(workload, hearth_does, measured, unit, peer_name, peer_measured)
    if at_most is not None:
        row.target, row.passed = f"<= {at_most:g} {unit}", measured <= at_most
    elif at_least is not None:
        row.target, row.passed = f">= {at_least:g} {unit}", measured >= at_least
    return row


def round_trips(options: Options) -> list[Row]:
    """Clicker `cook` and garage `profile` round trips, the latency at half of the peak,
    and the echo peers driven the same way."""
    load = {
        "connections": options.connections,
        "warmup": options.warmup,
        "duration": options.duration,
    }
    with hearth(options.directory / "round-trips") as server:
        tokens = write_json(
            options.directory / "cook-tokens.json",
            clicker_players(server, options.connections),
        )
        cook_load = {**load, "mode": "cook", "tokens": str(tokens)}
        cook = node("wsload.js", server.pid, url=f"{server.ws}/ws", **cook_load)
        cook_http = node("wsload.js", server.pid, url=f"{server.ws_on_http_port}/ws", **cook_load)
        half_rate = cook["per_second"] / 2
        half = node("wsload.js", url=f"{server.ws}/ws", rate=half_rate, **cook_load)
        garage = node("sioload.js", server.pid, url=server.socketio, mode="profile", **load)
    echo: dict[str, dict[str, Any]] = {}
    for name in ("websockets-echo", "trio-websocket-echo", "node-ws-echo"):
        with peer(name) as running:
            echo[name] = node(
                "wsload.js",
                running.process.pid,
                url=f"ws://127.0.0.1:{running.port}/",
                mode="echo",
                **load,
            )
    for name in ("python-socketio-echo", "node-socketio-echo"):
        with peer(name) as running:
            echo[name] = node(
                "sioload.js",
                running.process.pid,
                url=f"http://127.0.0.1:{running.port}",
                mode="echo",
                **load,
            )
    cooking = "clicker cook, listener port"
    return [
        versus("round trip", cooking, cook, "websockets echo", echo["websockets-echo"], 1.5),
        versus(
            "round trip", cooking, cook, "python-socketio echo", echo["python-socketio-echo"], 3
        ),
        versus("round trip", cooking, cook, "Node socket.io echo", echo["node-socketio-echo"], 0.5),
        versus("round trip", cooking, cook, "Node ws echo", echo["node-ws-echo"]),
        versus("round trip", cooking, cook, "trio-websocket echo", echo["trio-websocket-echo"]),
        versus(
            "round trip",
            "clicker cook, HTTP port",
            cook_http,
            "websockets echo",
            echo["websockets-echo"],
        ),
        bounded(
            "latency",
            f"clicker cook at {half_rate:,.0f}/s (half of peak)",
            half["p99_ms"],
            "ms p99",
            at_most=10,
        ),
        versus(
            "Socket.IO",
            "garage profile (socket.io-client 4)",
            garage,
            "Node socket.io echo",
            echo["node-socketio-echo"],
            0.5,
        ),
        versus(
            "Socket.IO",
            "garage profile (socket.io-client 4)",
            garage,
            "python-socketio echo",
            echo["python-socketio-echo"],
        ),
    ]


def fan_out(options: Options) -> list[Row]:
    """One parties event with 1,000 connections; chat messages reach all of them."""
    plan = {"members": FAN_OUT_MEMBERS, "rounds": 50, "burst": 100}
    # One user on 1,000 devices: the per-user cap is raised for this room only.
    with hearth(
        options.directory / "fan-out", realtime={"max_connections_per_user": FAN_OUT_MEMBERS}
    ) as server:
        token, event_id = parties_event(server)
        url = f"{server.ws}/api/v1/websockets/event?accessToken={token}&eventId={event_id}"
        chat = node("fanout.js", url=url, **plan)
    broadcast: dict[str, dict[str, Any]] = {}
    for name in ("node-ws-broadcast", "websockets-broadcast"):
        with peer(name) as running:
            broadcast[name] = node("fanout.js", url=f"ws://127.0.0.1:{running.port}/", **plan)
    node_ws = broadcast["node-ws-broadcast"]
    return [
        bounded(
            "fan-out",
            f"parties chat to {FAN_OUT_MEMBERS:,}, {plan['burst']} messages at once",
            chat["deliveries_per_second"],
            "deliveries/s",
            at_least=50_000,
            peer_name="Node ws broadcast",
            peer_measured=node_ws["deliveries_per_second"],
        ),
        bounded(
            "fan-out",
            f"parties chat to {FAN_OUT_MEMBERS:,}, {plan['burst']} messages at once",
            chat["deliveries_per_second"],
            "deliveries/s",
            peer_name="websockets broadcast",
            peer_measured=broadcast["websockets-broadcast"]["deliveries_per_second"],
        ),
        bounded(
            "fan-out",
            f"one message: send to the last of {FAN_OUT_MEMBERS:,} deliveries",
            chat["round_p50_ms"],
            "ms p50",
            at_most=50,
            peer_name="Node ws broadcast",
            peer_measured=node_ws["round_p50_ms"],
        ),
    ]


def _held(url: str, pid: int, connections: int, hold: float, **more: Any) -> dict[str, Any]:
    """Hold `connections` to `url` for `hold` seconds; the server's RSS and CPU meanwhile."""
    before = rss_kib(pid)
    with node_session("hold.js", url=url, connections=connections, hold=hold, **more) as load:
        opened = read_report(load.stdout)
        cpu, started = cpu_seconds(pid), time.monotonic()
        done = read_report(load.stdout)
        cpu_per_second = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
        grown = rss_kib(pid) - before
    return {
        **opened,
        **done,
        "kib_per_connection": grown / max(opened["connected"], 1),
        "cpu_per_second": cpu_per_second,
    }


def idle(options: Options) -> list[Row]:
    """10,000 WebSockets held with keepalive pings every 5 s; 5,000 Socket.IO sessions held
    with Engine.IO's heartbeat every 5 s (the peers keep their default, 25 s)."""
    pings = {"ping_interval": 5.0}
    with hearth(options.directory / "idle", realtime=pings, socketio=pings) as server:
        ours = _held(f"{server.ws}/ws", server.pid, IDLE_CONNECTIONS, options.hold)
    with hearth(options.directory / "idle-sio", realtime=pings, socketio=pings) as server:
        our_sio = _held(server.socketio, server.pid, IDLE_SOCKETIO, options.hold, socketio=True)
    with peer("websockets-echo") as running:
        theirs = _held(
            f"ws://127.0.0.1:{running.port}/", running.process.pid, IDLE_CONNECTIONS, options.hold
        )
    their_sio = {}
    for name in ("python-socketio-echo", "node-socketio-echo"):
        with peer(name) as running:
            url = f"http://127.0.0.1:{running.port}"
            their_sio[name] = _held(
                url, running.process.pid, IDLE_SOCKETIO, options.hold, socketio=True
            )
    return [
        bounded(
            "idle connections",
            f"{IDLE_CONNECTIONS:,} held {options.hold:g} s, pinged every 5 s: still open",
            ours["still_open"],
            "connections",
            at_least=IDLE_CONNECTIONS,
        ),
        bounded(
            "idle connections",
            f"{IDLE_CONNECTIONS:,} held: server RSS growth per connection",
            ours["kib_per_connection"],
            "KiB",
            at_most=12,
            peer_name="websockets (no pings)",
            peer_measured=theirs["kib_per_connection"],
        ),
        bounded(
            "idle connections",
            f"{IDLE_SOCKETIO:,} Socket.IO sessions held {options.hold:g} s, pinged every 5 s:"
            " still open",
            our_sio["still_open"],
            "connections",
            at_least=IDLE_SOCKETIO,
        ),
        *(
            bounded(
                "idle connections",
                f"{IDLE_SOCKETIO:,} Socket.IO sessions held: server RSS growth per connection",
                our_sio["kib_per_connection"],
                "KiB",
                peer_name=peer_name,
                peer_measured=their_sio[name]["kib_per_connection"],
            )
            for name, peer_name in (
                ("python-socketio-echo", "python-socketio"),
                ("node-socketio-echo", "Node socket.io"),
            )
        ),
    ]


def durable_writes(options: Options) -> list[Row]:
    """Clicker upgrade_buy over WebSockets and order creation over REST, at once."""
    load = {"warmup": options.warmup, "duration": options.duration}
    with hearth(options.directory / "durable") as server:
        players = write_json(
            options.directory / "buy-tokens.json",
            clicker_players(server, BUYERS, money=MONEY),
        )
        customers = write_json(
            options.directory / "customers.json", orders_customers(server, ORDERING_CUSTOMERS)
        )
        with ThreadPoolExecutor(2) as pool:
            buying = pool.submit(
                node,
                "wsload.js",
                server.pid,  # the orders' window is the same length, started with it
                url=f"{server.ws}/ws",
                mode="buy",
                upgrades=repeatable_upgrades(server),
                connections=BUYERS,
                tokens=str(players),
                **load,
            )
            ordering = pool.submit(
                node,
                "orderload.js",
                url=server.http,
                connections=ORDERING_CUSTOMERS,
                tokens=str(customers),
                body=ORDER,
                **load,
            )
            bought, ordered = buying.result(), ordering.result()
    errors = bought["errors"] + ordered["errors"]
    row = bounded(
        "durable writes",
        f"upgrade_buy ({bought['per_second']:,.0f}/s) + orders ({ordered['per_second']:,.0f}/s),"
        " synchronous=FULL",
        bought["per_second"] + ordered["per_second"],
        "commits/s",
        at_least=5000,
    )
    row.passed = row.passed and errors == 0
    row.cpu_us = cpu_us_per(bought, bought["count"] + ordered["count"])
    return [row]


def passive_ticks(options: Options) -> list[Row]:
    """5,000 players with passive income, connected and idle, watched for a while."""
    with hearth(options.directory / "ticks") as server:
        players = write_json(
            options.directory / "tick-tokens.json",
            clicker_players(server, TICK_PLAYERS, owned=PASSIVE_UPGRADE),
        )
        watched = _held(
            f"{server.ws}/ws",
            server.pid,
            TICK_PLAYERS,
            options.tick_seconds,
            tokens=str(players),
            interval=1.0,
        )
    ticks = f"{TICK_PLAYERS:,} players, one tick a second for {options.tick_seconds:g} s"
    drift = bounded("passive ticks", f"{ticks}: drift", watched["max_drift_ms"], "ms", at_most=50)
    drift.passed = drift.passed and watched["min_ticks"] >= options.tick_seconds - 1
    return [
        bounded(
            "passive ticks",
            f"{ticks}: server CPU per tick (all work included)",
            watched["cpu_per_second"] * 1000,
            "ms",
            at_most=100,
        ),
        drift,
    ]


WORKLOADS: dict[str, Callable[[Options], list[Row]]] = {
    "round-trips": round_trips,
    "fan-out": fan_out,
    "idle": idle,
    "durable": durable_writes,
    "ticks": passive_ticks,
}
