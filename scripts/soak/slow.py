"""Slow consumers (issue 8, item 8): clients that never read must not hurt the others.

    python -m scripts.soak slow [--duration 60] [--healthy 100] [--slow 10] [--hold 10]

One fresh Hearth (`scripts/bench/harness.py`) and one busy parties event: `--healthy`
members (`scripts/bench/chat.js`) each send chat messages at `--rate` a second (the
server allows 2), every one delivered to every member. Two measured windows of
`--duration` seconds, after a warm-up:

1. baseline: the healthy members alone;
2. slow: the same, while `--slow` more members never read their socket (receive buffer
   `--rcvbuf` bytes, so theirs fill within a second or two). Each holds its connection
   unread for `--hold` seconds, then reads what is there and opens a new one, so there
   are always `--slow` slow consumers in the room.

Passes (exit status 0) when:

- healthy deliveries/s in the slow window >= 90% of the baseline's, and no healthy member
  was closed in either window;
- every slow connection was cut off by the server while unread. What is checked: the
  server's side of that TCP connection (`/proc/net/tcp`) left ESTABLISHED during the
  hold (the server closed its socket; the time it took is reported), the server logged
  one `outbox full (slow consumer)` drop for every slow connection, and when the client
  finally reads, its stream ends: with a close frame (which must be 1008), a reset, or
  an EOF. A connection whose buffers are full cannot receive the 1008 close frame: it
  would queue behind the bytes the client never read. The server's write to it is cut
  short in mid-frame when it is dropped, after which nothing more is sent
  (`realtime/listener.py`) and the socket is closed at once; so the client reads the
  frames the kernels had buffered, perhaps part of one, then the end of the stream (EOF);
- the server's RSS grew less than 100 MB over the slow window (its peak, sampled every
  half second, against the RSS at the window's start).

Prints the figures (JSON) at the end; the failures, if any, on the last line.
"""

from __future__ import annotations

import argparse
import json
import socket
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio
import wsproto.events
import wsproto.utilities

from scripts.bench.harness import (
    Hearth,
    cpu_seconds,
    hearth,
    install_node_packages,
    node,
    parties_event,
    rss_kib,
)
from tests.clients import RawWebSocket

WARMUP = 5.0  # seconds of chat before each window is measured
RSS_LIMIT_KIB = 100 * 1024
MIN_RATIO = 0.9
DROPPED = "dropped: outbox full (slow consumer)"
# How long a slow client reading its backlog waits for the end of the stream.
DRAIN_SECONDS = 10.0
TCP_ESTABLISHED = "01"


@dataclass
class SlowConnection:
    cut_after: float | None  # seconds from the upgrade until the server closed its socket
    ending: str  # what the client read last: "close <code> <reason>", "reset", "EOF"
    messages: int  # messages it read when it finally read


@dataclass
class SlowReport:
    baseline: dict[str, Any] = field(default_factory=dict)  # chat.js, healthy alone
    loaded: dict[str, Any] = field(default_factory=dict)  # chat.js, with slow consumers
    slow: list[SlowConnection] = field(default_factory=list)
    dropped_logged: int = 0  # the server's "slow consumer" drops in the slow window
    rss_kib: dict[str, int] = field(default_factory=dict)
    server_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per second

    @property
    def ratio(self) -> float:
        base = self.baseline.get("deliveries_per_second", 0)
        return float(self.loaded.get("deliveries_per_second", 0)) / base if base else 0.0

    def failures(self) -> list[str]:
        failed = []
        if self.ratio < MIN_RATIO:
            failed.append(f"healthy delivery at {self.ratio:.1%} of the baseline")
        for name, window in (("baseline", self.baseline), ("slow", self.loaded)):
            if window.get("closes"):
                failed.append(f"healthy members closed in the {name} window: {window['closes']}")
        if not self.slow:
            failed.append("no slow connection was made")
        not_cut = [c for c in self.slow if c.cut_after is None]
        if not_cut:
            failed.append(f"{len(not_cut)} slow connections still open on the server's side")
        wrong = [c.ending for c in self.slow if c.ending not in ("reset", "EOF")]
        wrong = [ending for ending in wrong if not ending.startswith("close 1008 ")]
        if wrong:
            failed.append(f"slow connections ended otherwise: {Counter(wrong)}")
        if self.dropped_logged < len(self.slow):
            failed.append(f"{self.dropped_logged} drops logged for {len(self.slow)} slow ones")
        growth = self.rss_kib.get("peak", 0) - self.rss_kib.get("slow_start", 0)
        if growth >= RSS_LIMIT_KIB:
            failed.append(f"RSS grew {growth / 1024:.0f} MB")
        return failed

    def summary(self) -> dict[str, Any]:
        cut = sorted(c.cut_after for c in self.slow if c.cut_after is not None)
        return {
            "baseline_deliveries_per_second": round(self.baseline.get("deliveries_per_second", 0)),
            "slow_window_deliveries_per_second": round(self.loaded.get("deliveries_per_second", 0)),
            "ratio": round(self.ratio, 3),
            "delivered_of_expected": {
                name: f"{window.get('delivered', 0)}/{window.get('expected', 0)}"
                for name, window in (("baseline", self.baseline), ("slow", self.loaded))
            },
            "healthy_closes": {
                "baseline": self.baseline.get("closes"),
                "slow": self.loaded.get("closes"),
            },
            "slow_connections": len(self.slow),
            "slow_endings": dict(Counter(c.ending for c in self.slow)),
            "slow_messages_read_at_the_end": sum(c.messages for c in self.slow),
            "cut_after_seconds": {
                "min": round(cut[0], 2) if cut else None,
                "median": round(cut[len(cut) // 2], 2) if cut else None,
                "max": round(cut[-1], 2) if cut else None,
            },
            "drops_logged": self.dropped_logged,
            "server_cpu_per_second": {k: round(v, 2) for k, v in self.server_cpu.items()},
            "rss_mib": {name: round(kib / 1024, 1) for name, kib in self.rss_kib.items()},
        }


def run(
    directory: Path,
    *,
    duration: float = 60.0,
    healthy: int = 100,
    slow: int = 10,
    hold: float = 10.0,
    rate: float = 1.8,
    padding: int = 200,
    rcvbuf: int = 4096,
) -> SlowReport:
    install_node_packages()
    log: list[str] = []
    cap = {"max_connections_per_user": healthy + 2 * slow + 10}  # one user, many devices
    with hearth(directory / "slow", log, realtime=cap) as server:
        token, event_id = parties_event(server)
        target = f"/api/v1/websockets/event?accessToken={token}&eventId={event_id}"
        chat = {
            "url": f"{server.ws}{target}",
            "members": healthy,
            "rate": rate,
            "warmup": WARMUP,
            "duration": duration,
            "padding": padding,
        }
        measure = partial(_measure, server, target, log, chat, slow, hold, rcvbuf)
        return trio.run(measure)


async def _measure(
    server: Hearth,
    target: str,
    log: list[str],
    chat: dict[str, Any],
    slow: int,
    hold: float,
    rcvbuf: int,
) -> SlowReport:
    report = SlowReport()
    report.rss_kib["start"] = rss_kib(server.pid)
    cpu, started = cpu_seconds(server.pid), trio.current_time()
    report.baseline = await trio.to_thread.run_sync(partial(node, "chat.js", **chat))
    report.server_cpu["baseline"] = (cpu_seconds(server.pid) - cpu) / (
        trio.current_time() - started
    )
    cpu, started = cpu_seconds(server.pid), trio.current_time()
    report.rss_kib["slow_start"] = report.rss_kib["peak"] = rss_kib(server.pid)
    logged_before = sum(DROPPED in line for line in log)
    until = trio.current_time() + chat["warmup"] + chat["duration"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sample_rss, server.pid, report)
        async with trio.open_nursery() as slow_ones:
            for _ in range(slow):
                slow_ones.start_soon(_slow_slot, server, target, hold, rcvbuf, until, report)
            report.loaded = await trio.to_thread.run_sync(partial(node, "chat.js", **chat))
        nursery.cancel_scope.cancel()
    report.server_cpu["slow"] = (cpu_seconds(server.pid) - cpu) / (trio.current_time() - started)
    report.rss_kib["end"] = rss_kib(server.pid)
    await trio.sleep(1)  # the last log lines
    report.dropped_logged = sum(DROPPED in line for line in log) - logged_before
    return report


async def _sample_rss(pid: int, report: SlowReport) -> None:
    while True:
        report.rss_kib["peak"] = max(report.rss_kib["peak"], rss_kib(pid))
        await trio.sleep(0.5)


async def _slow_slot(
    server: Hearth, target: str, hold: float, rcvbuf: int, until: float, report: SlowReport
) -> None:
    """Slow connections one after the other, each held unread for `hold`, the last one
    ending by `until`."""
    while trio.current_time() + hold <= until:  # the room is busy all the while
        report.slow.append(await _slow_connection(server, target, hold, rcvbuf))


async def _slow_connection(server: Hearth, target: str, hold: float, rcvbuf: int) -> SlowConnection:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting
    await sock.connect(("127.0.0.1", server.child.ports[1]))
    client_port = sock.getsockname()[1]
    async with trio.SocketStream(sock) as stream:
        client = RawWebSocket(stream)
        await client.send(wsproto.events.Request(host="127.0.0.1", target=target))
        accepted = await client.next_event()
        assert isinstance(accepted, wsproto.events.AcceptConnection), accepted
        upgraded = trio.current_time()
        cut_after = None
        while trio.current_time() < upgraded + hold:  # never reads
            if cut_after is None and not _server_side_open(server.child.ports[1], client_port):
                cut_after = trio.current_time() - upgraded
            await trio.sleep(0.1)
        return await _read_to_the_end(client, cut_after)


async def _read_to_the_end(client: RawWebSocket, cut_after: float | None) -> SlowConnection:
    messages, ending = 0, "still open"
    with trio.move_on_after(DRAIN_SECONDS):
        while True:
            try:
                event = await client.next_event()
            except wsproto.utilities.RemoteProtocolError as error:
                ending = f"protocol error {error}"
                break
            if event is None:
                ending = "reset" if client.reset else "EOF"
                break
            if isinstance(event, wsproto.events.CloseConnection):
                ending = f"close {event.code} {event.reason}"
                break
            if isinstance(event, wsproto.events.TextMessage) and event.message_finished:
                messages += 1
    return SlowConnection(cut_after, ending, messages)


def _server_side_open(server_port: int, client_port: int) -> bool:
    """Whether the server's end of the connection from `client_port` is ESTABLISHED."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[2].endswith(remote):
            return fields[3] == TCP_ESTABLISHED
    return False


def print_report(report: SlowReport) -> bool:
    print(json.dumps(report.summary(), indent=2))
    print(json.dumps({"baseline": report.baseline, "slow": report.loaded}))
    if slow_ones := [asdict(c) for c in report.slow[:3]]:
        print("first slow connections:", json.dumps(slow_ones))
    failures = report.failures()
    print("slow consumers:", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    return not failures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--healthy", type=int, default=100, help="members that read")
    parser.add_argument("--slow", type=int, default=10, help="members that never read")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds a slow one is unread")
    parser.add_argument("--rate", type=float, default=1.8, help="messages/s per healthy member")
    parser.add_argument("--padding", type=int, default=200, help="extra characters a message")
    parser.add_argument("--rcvbuf", type=int, default=4096, help="a slow one's SO_RCVBUF")


def main(args: argparse.Namespace, directory: Path) -> bool:
    report = run(
        directory,
        duration=args.duration,
        healthy=args.healthy,
        slow=args.slow,
        hold=args.hold,
        rate=args.rate,
        padding=args.padding,
        rcvbuf=args.rcvbuf,
    )
    return print_report(report)
