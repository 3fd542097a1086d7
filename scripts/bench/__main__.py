"""Benchmark Hearth against its peers in one run, and print the ratios.

    python -m scripts.bench [--connections 100] [--warmup 2] [--duration 10]

Starts Hearth (a temporary database, cheap bcrypt, no rate limit), registers
one user per connection, and drives the clicker's `cook` round trip with
closed-loop connections from a Node `ws` load generator (installed here from
package-lock.json). The same generator then drives each peer, a bare echo
server, with frames of the same size. Everything listens on 127.0.0.1.
Absolute numbers depend on the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEERS = ("trio-websocket", "websockets")
_LISTENING = re.compile(r"listening (?:http=\S+:(\d+) ws=\S+:(\d+)|(\d+))")


@dataclass
class Child:
    process: subprocess.Popen[str]
    ports: tuple[int, ...]


def install_load_generator() -> None:
    if not (HERE / "node_modules" / "ws").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


@contextmanager
def child(command: list[str], stream: str) -> Iterator[Child]:
    """Run `command` until it prints its listening line (on `stream`); stop it on exit."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else None,
    )
    output = process.stdout if stream == "stdout" else process.stderr
    assert output is not None
    ports: tuple[int, ...] = ()
    for line in output:
        if match := _LISTENING.search(line):
            ports = tuple(int(group) for group in match.groups() if group)
            break
    if not ports:
        raise RuntimeError(f"{command} did not start")
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=output.read, daemon=True).start()
    try:
        yield Child(process, ports)
    finally:
        process.terminate()
        process.wait(timeout=15)


def hearth_config(directory: Path) -> Path:
    secrets = "\n".join(
        f'{key} = "{key}-bench-secret-0123456789abcdef"'
        for key in ("access_token", "refresh_token", "password_key")
    )
    path = directory / "bench.toml"
    path.write_text(
        "[server]\nhttp_port = 0\nws_port = 0\n"
        f'[storage]\npath = "{directory / "bench.db"}"\n'
        f"[secrets]\n{secrets}\n[accounts]\nbcrypt_cost = 4\n"
        "[realtime]\nrate_per_second = 1e9\nrate_burst = 1000000000\n",
        encoding="utf-8",
    )
    return path


def register(http_port: int, count: int) -> list[str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
        return [
            http.post(
                "/reg", json={"email": f"bench{n}@example.com", "password": "bench password"}
            ).json()["tokens"]["access_token"]
            for n in range(count)
        ]


def load(url: str, mode: str, args: argparse.Namespace, tokens: Path) -> dict[str, Any]:
    command = [
        "node",
        str(HERE / "loadgen.js"),
        url,
        mode,
        str(args.connections),
        str(args.warmup),
        str(args.duration),
        str(tokens),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    install_load_generator()
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        config = hearth_config(directory)
        python = sys.executable
        subprocess.run(
            [python, "-m", "scripts.seed", "--config", str(config)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        tokens = directory / "tokens.json"
        with child([python, "server.py", "--config", str(config)], "stderr") as hearth:
            http_port, ws_port = hearth.ports
            tokens.write_text(json.dumps(register(http_port, args.connections)))
            rows.append(
                (
                    "hearth cook (listener)",
                    load(f"ws://127.0.0.1:{ws_port}/ws", "clicker", args, tokens),
                )
            )
            rows.append(
                (
                    "hearth cook (HTTP port)",
                    load(f"ws://127.0.0.1:{http_port}/ws", "clicker", args, tokens),
                )
            )
        for peer in PEERS:
            with child([python, "-m", "scripts.bench.peers", peer], "stdout") as echo:
                rows.append(
                    (f"{peer} echo", load(f"ws://127.0.0.1:{echo.ports[0]}/", "echo", args, tokens))
                )
    report(rows, args.connections)


def report(rows: list[tuple[str, dict[str, Any]]], connections: int) -> None:
    hearth = rows[0][1]["per_second"]
    print(f"{connections} closed-loop connections; ratio = Hearth cook (listener) / row")
    print(
        f"{'workload':<26}{'round trips/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}"
    )
    for name, measured in rows:
        rate = measured["per_second"]
        print(
            f"{name:<26}{rate:>14.0f}{measured['p50_ms']:>9.2f}"
            f"{measured['p99_ms']:>9.2f}{measured['errors']:>8}{hearth / rate:>8.2f}"
        )


if __name__ == "__main__":
    main()
