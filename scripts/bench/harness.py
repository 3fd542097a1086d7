"""What every workload of the benchmark uses: child servers, the Node load generators,
and the accounts a workload needs in a fresh Hearth.

Invariant: every process started here listens on 127.0.0.1 only and is stopped when
its `with` block ends, whatever happened inside it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import httpx
import trio

from handlers.orders.auth import telegram_signature

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
BOT_TOKEN = "1:bench-bot-token"
REGISTER_CONCURRENCY = 16
_LISTENING = re.compile(r"listening (?:http=\S+:(\d+) ws=\S+:(\d+)|(\d+))")


@dataclass
class Child:
    process: subprocess.Popen[str]
    ports: tuple[int, ...]

    @property
    def port(self) -> int:
        return self.ports[-1]


@dataclass
class Hearth:
    child: Child
    database: Path

    @property
    def http(self) -> str:
        """REST, on the HTTP port."""
        return f"http://127.0.0.1:{self.child.ports[0]}"

    @property
    def ws(self) -> str:
        """WebSockets, on the dedicated listener."""
        return f"ws://127.0.0.1:{self.child.ports[1]}"

    @property
    def ws_on_http_port(self) -> str:
        return f"ws://127.0.0.1:{self.child.ports[0]}"

    @property
    def socketio(self) -> str:
        """What socket.io-client is given to reach the listener."""
        return f"http://127.0.0.1:{self.child.ports[1]}"

    @property
    def pid(self) -> int:
        return self.child.process.pid


def install_node_packages() -> None:
    if not (HERE / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


@contextmanager
def child(command: list[str], stream: str, log: list[str] | None = None) -> Iterator[Child]:
    """Run `command` until it prints its listening line (on `stream`); stop it on exit.

    With `log`, every later line of that output is appended to it as it comes."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
    )
    try:
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
        drain = output.read if log is None else partial(_collect, output, log)
        threading.Thread(target=drain, daemon=True).start()
        yield Child(process, ports)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _collect(output: IO[str], log: list[str]) -> None:
    for line in output:
        log.append(line)  # list.append is atomic: readers see whole lines


def peer(name: str) -> Any:
    """A peer server by name: `node-*` from peers.js, the others from peers.py."""
    if name.startswith("node-"):
        return child(["node", str(HERE / "peers.js"), name.removeprefix("node-")], "stdout")
    return child([PYTHON, "-m", "scripts.bench.peers", name], "stdout")


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists read the same in TOML


@contextmanager
def hearth(
    directory: Path, log: list[str] | None = None, **sections: dict[str, Any]
) -> Iterator[Hearth]:
    """A fresh, seeded Hearth in `directory`, its settings changed by `sections`; its log
    lines are appended to `log` if given.

    Benchmark defaults: cheap bcrypt, no per-connection rate limit, no POS sync.
    """
    directory.mkdir(parents=True, exist_ok=True)
    settings: dict[str, dict[str, Any]] = {
        "server": {"http_port": 0, "ws_port": 0},
        "storage": {"path": str(directory / "bench.db")},
        "secrets": {
            key: f"{key}-bench-secret-0123456789abcdef"
            for key in ("access_token", "refresh_token", "password_key")
        },
        "accounts": {"bcrypt_cost": 4},
        "realtime": {"rate_per_second": 1e9, "rate_burst": 1_000_000_000},
        "orders": {"telegram_bot_token": BOT_TOKEN, "pos_mode": "off"},
    }
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    config = directory / "bench.toml"
    config.write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())
            for section, values in settings.items()
        ),
        encoding="utf-8",
    )
    subprocess.run(
        [PYTHON, "-m", "scripts.seed", "--config", str(config)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with child([PYTHON, "server.py", "--config", str(config)], "stderr", log) as server:
        yield Hearth(server, Path(settings["storage"]["path"]))


def node(script: str, watch: int | None = None, /, **options: Any) -> dict[str, Any]:
    """Run a load generator to its end; its last line of output, as JSON.

    With `watch` (a server's pid), the answer also has `cpu_seconds`: the CPU time that
    process used between the generator's marks of its measured window."""
    command = ["node", str(HERE / script), json.dumps(options)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    draining = threading.Thread(target=_collect, args=(process.stderr, errors), daemon=True)
    draining.start()
    lines: list[str] = []
    marks: dict[str, float] = {}
    for line in process.stdout:
        lines.append(line)
        if watch is not None and line.startswith('{"event"'):  # a mark, not the report
            marks[json.loads(line)["event"]] = cpu_seconds(watch)
    draining.join()
    if process.wait() != 0 or not lines:
        raise RuntimeError(f"{script} failed: {''.join(lines)}{''.join(errors)}")
    answer: dict[str, Any] = json.loads(lines[-1])
    if watch is not None:
        if not {"measuring", "measured"} <= marks.keys():
            raise RuntimeError(f"{script} marked no measured window")
        answer["cpu_seconds"] = marks["measured"] - marks["measuring"]
    return answer


@contextmanager
def node_session(script: str, **options: Any) -> Iterator[subprocess.Popen[str]]:
    """A load generator that reports as it goes and waits for a line on stdin to finish."""
    command = ["node", str(HERE / script), json.dumps(options)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.stdin is not None:
            process.stdin.write("\n")
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def read_report(stream: IO[str] | None) -> dict[str, Any]:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError("the load generator stopped early")
    report: dict[str, Any] = json.loads(line)
    return report


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks_per_second = 100  # USER_HZ; os.sysconf("SC_CLK_TCK") on every Linux we run on
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


async def _register_all(base: str, path: str, bodies: list[dict[str, Any]]) -> list[Any]:
    answers: list[Any] = [None] * len(bodies)
    limit = trio.Semaphore(REGISTER_CONCURRENCY)

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def register(index: int) -> None:
            async with limit:
                response = await http.post(path, json=bodies[index])
                response.raise_for_status()
                answers[index] = response.json()

        async with trio.open_nursery() as nursery:
            for index in range(len(bodies)):
                nursery.start_soon(register, index)
    return answers


def clicker_players(server: Hearth, count: int, **progress: Any) -> list[str]:
    """`count` Click & Cook accounts; their access tokens.

    `progress` presets each player before their first session: `money=…` and
    `owned=upgrade_id` (bought once), written straight into the database.
    """
    bodies = [
        {"email": f"bench{n}@example.com", "password": "bench password"} for n in range(count)
    ]
    answers = trio.run(_register_all, server.http, "/reg", bodies)
    if progress:
        with sqlite3.connect(server.database, timeout=30) as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM users ORDER BY id")]
            connection.executemany(
                "INSERT INTO clicker_players (user_id, money) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET money = excluded.money",
                [(user_id, progress.get("money", 0)) for user_id in ids],
            )
            if "owned" in progress:
                connection.executemany(
                    "INSERT INTO clicker_owned (user_id, upgrade_id, times_bought)"
                    " VALUES (?, ?, 1)",
                    [(user_id, progress["owned"]) for user_id in ids],
                )
    return [answer["tokens"]["access_token"] for answer in answers]


def repeatable_upgrades(server: Hearth) -> list[int]:
    """The clicker upgrades a player can buy again and again (dishes are bought once)."""
    with sqlite3.connect(server.database, timeout=30) as connection:
        rows = connection.execute(
            "SELECT id FROM clicker_upgrades WHERE upgrade_type != 'dish' ORDER BY id"
        )
        return [upgrade_id for (upgrade_id,) in rows]


def orders_customers(server: Hearth, count: int) -> list[str]:
    """`count` Telegram customers of the orders app; their tokens."""
    bodies = []
    for n in range(count):
        fields: dict[str, Any] = {
            "id": 1000 + n,
            "first_name": "Bench",
            "auth_date": int(time.time()),
        }
        fields["hash"] = telegram_signature(fields, BOT_TOKEN)
        bodies.append(fields)
    answers = trio.run(_register_all, server.http, "/api/auth/telegram", bodies)
    return [answer["token"] for answer in answers]


def parties_event(server: Hearth) -> tuple[str, str]:
    """One parties user and the event they opened: (access token, event id)."""
    with httpx.Client(base_url=server.http, timeout=30) as http:
        password = "bench party password"
        user = http.post(
            "/api/v1/users/create",
            json={
                "name": "Bench",
                "phone": "9000000000",
                "password": password,
                "confirmPassword": password,
            },
        ).json()["result"]
        headers = {"Authorization": f"Bearer {user['accessToken']}"}
        event = http.post(
            "/api/v1/events/create",
            json={"name": "Bench", "address": "Loopback 1", "coordinates": {"x": 0, "y": 0}},
            headers=headers,
        ).json()["result"]
    return user["accessToken"], event["id"]
