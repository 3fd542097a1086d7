"""A disk that fills up while the server serves: every write it cannot store is refused
with the documented error and leaves nothing behind, and writes succeed again once there is
room, without a restart.

Two ways to fill it. The real one: the server runs in a user and mount namespace of its
own (`unshare`, no root needed) with its database on a small tmpfs, and the test fills that
tmpfs with a ballast file, so the kernel answers ENOSPC; SQLite then fails the COMMIT
(appending to the WAL) with SQLITE_FULL and undoes the transaction. It is skipped where
user namespaces are not allowed. The simulated one runs everywhere: `PRAGMA max_page_count`
lowered to the file's size on the live writer connection (a test hook catches the server's
`Database`) makes any statement that needs one page more fail with SQLITE_FULL, "database
or disk is full", the very error a full disk gives; SQLite then undoes that statement or
the whole transaction. Together they cover both places a full disk can strike.

The writers, all at once in each round so that they share group commits: clicker players
buying upgrades (WebSocket), orders customers placing orders with bonuses (REST), garage
players buying cars and upgrades (Socket.IO), new clicker accounts (REST) and parties
media uploads (a file and its row). See tests/buyers.py for what each buyer checks.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import server as server_module
from server import STORAGE_UNAVAILABLE
from storage import Database, open_database
from tests.buyers import (
    Buyer,
    check_settled,
    http_client,
    make_buyers,
    read_only,
)
from tests.conftest import make_settings, seed_database
from tests.handlers.parties.test_parties import PNG, auth, person
from tests.orders_clients import BOT_TOKEN
from tests.process import server_process, write_config

REFUSED = {"error": "Service Unavailable", "message": STORAGE_UNAVAILABLE}
ROOM_AGAIN = 1073741823  # SQLite's largest max_page_count
FAST = {"rate_per_second": 1e6, "rate_burst": 1000000}
KINDS = ("clicker", "orders", "garage", "accounts", "media")


class Writers:
    """Every kind of write, one of each per round; what was stored and what was refused."""

    def __init__(self, buyers: list[Buyer], owner: dict[str, Any]) -> None:
        self.buyers = buyers
        self.owner = owner  # a parties user, for the uploads
        self.emails: set[str] = set()
        self.media: set[str] = set()
        self.refused = dict.fromkeys(KINDS, 0)
        self._rounds = 0

    def refusals(self) -> dict[str, int]:
        counts = dict(self.refused)
        for buyer in self.buyers:
            counts[buyer.kind] += buyer.unavailable
        return counts

    async def round(self, ports: tuple[int, int], http: httpx.AsyncClient) -> None:
        self._rounds += 1
        async with trio.open_nursery() as nursery:
            for buyer in self.buyers:
                nursery.start_soon(buyer.shop, ports, 1)
            nursery.start_soon(self._register, http)
            nursery.start_soon(self._upload, http)

    async def _register(self, http: httpx.AsyncClient) -> None:
        email = f"late{self._rounds}@example.com"
        answer = await http.post("/reg", json={"email": email, "password": "correct horse"})
        if answer.status_code == 503:
            assert (answer.json(), answer.headers["retry-after"]) == (REFUSED, "1")
            self.refused["accounts"] += 1
        else:
            assert answer.status_code == 200, answer.text
            self.emails.add(email)

    async def _upload(self, http: httpx.AsyncClient) -> None:
        files = {"file": ("a.png", PNG, "image/png")}
        answer = await http.post("/api/v1/media", files=files, headers=auth(self.owner))
        if answer.status_code == 503:
            assert answer.json() == REFUSED
            self.refused["media"] += 1
        else:
            assert answer.status_code == 200 and answer.json()["isSuccess"], answer.text
            self.media.add(answer.json()["result"])

    def check(self, database: Path, media_files: set[str]) -> None:
        """What was acknowledged is stored, exactly; nothing of a refused write is."""
        check_settled(self.buyers, database)
        with read_only(database) as connection:
            emails = {
                email
                for (email,) in connection.execute(
                    "SELECT email FROM users WHERE email LIKE 'late%'"
                )
            }
            media = {media_id for (media_id,) in connection.execute("SELECT id FROM media")}
        assert (emails, media) == (self.emails, self.media)
        assert media_files == self.media  # no file without its row, no partial file


async def _fill_and_free(
    writers: Writers,
    ports: tuple[int, int],
    *,
    fill: Callable[[], Awaitable[None]],
    free: Callable[[], Awaitable[None]],
    look: Callable[[], Awaitable[tuple[Path, set[str]]]],
    must_refuse: tuple[str, ...],
    while_full: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, int]:
    """Write with room, fill the disk and write on until each of `must_refuse` was refused,
    then await `while_full`, make room and write again; check the database after each
    phase. Returns the refusals while full."""
    async with http_client(ports[0]) as http:
        for _ in range(2):
            await writers.round(ports, http)
        assert writers.refusals() == dict.fromkeys(KINDS, 0)
        writers.check(*await look())
        await fill()
        for _ in range(200):
            await writers.round(ports, http)
            refusals = writers.refusals()
            if all(refusals[kind] for kind in must_refuse):
                break
        assert all(refusals[kind] for kind in must_refuse), refusals
        if while_full is not None:
            await while_full()
        writers.check(*await look())
        await free()
        for _ in range(2):
            await writers.round(ports, http)
        assert writers.refusals() == refusals  # every write of these rounds was stored
        writers.check(*await look())
    return refusals


@asynccontextmanager
async def _serving(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[server_module.Running, Database]]:
    """The server in this process, and its Database (caught as `main` opens it)."""
    databases: list[Database] = []

    @asynccontextmanager
    async def catching(path: Path, **options: Any) -> AsyncIterator[Database]:
        async with open_database(path, **options) as db:
            databases.append(db)
            yield db

    monkeypatch.setattr(server_module, "open_database", catching)
    await seed_database(config)
    async with trio.open_nursery() as nursery:
        running: server_module.Running = await nursery.start(server_module.main, config)
        yield running, databases[0]
        running.stop.set()


@pytest.mark.timeout(90)
async def test_a_database_that_cannot_grow_refuses_writes_cleanly_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Simulated (see the module's docstring). Pass: with room, every write is stored; once
    the file may not grow, writes go on until clicker purchases, orders, new accounts and
    uploads have each been refused with the documented error (WebSocket `storage
    unavailable, try again`; REST 503 {"error": "Service Unavailable", "message": "storage
    unavailable, try again"} with Retry-After: 1), garage events answered either way; the
    database then holds every acknowledged write exactly and nothing of a refused one (no
    media file without its row); with room again every write is stored, on the same server
    and connections' successors. The log has no traceback and no ERROR but the storage's
    own "database or disk is full"."""
    config = make_settings(tmp_path, realtime=FAST, orders={"pos_mode": "off"})
    database = Path(config.storage.path)
    async with _serving(config, monkeypatch) as (running, db):
        ports = (running.http_port, running.ws_port)
        buyers = await make_buyers(ports, database, clicker=3, orders=2, garage=2)
        async with http_client(ports[0]) as http:
            writers = Writers(buyers, await person(http, "Owner"))

        async def fill() -> None:
            pages = await db.write(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
            await db.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))

        async def free() -> None:
            await db.write(lambda c: c.execute(f"PRAGMA max_page_count = {ROOM_AGAIN}"))

        async def look() -> tuple[Path, set[str]]:
            return database, set(os.listdir(database.parent / "media"))

        refusals = await _fill_and_free(
            writers,
            ports,
            fill=fill,
            free=free,
            look=look,
            must_refuse=("clicker", "orders", "accounts", "media"),
        )
    print(f"refused while the file could not grow: {refusals}")
    assert not [record for record in caplog.records if record.exc_info], caplog.text
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert errors and all(
        r.name == "hearth.storage" and r.getMessage().endswith("database or disk is full")
        for r in errors
    ), [r.getMessage() for r in errors]


# -- a real full disk --------------------------------------------------------------------

TMPFS = "16m"
# In a new user and mount namespace: a tmpfs over $1, the database copied onto it, then
# the server (the rest of the arguments).
ON_TMPFS = (
    'mount -t tmpfs -o size={size} tmpfs "$1" && cp "$2" "$1/hearth.db" && shift 2 && exec "$@"'
)
SNAPSHOT = (
    "import sqlite3, sys\n"
    "source = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
    "copy = sqlite3.connect(sys.argv[2])\n"
    "source.backup(copy)\n"
)


UNSHARE = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]


def nsenter(pid: int) -> list[str]:
    """A command prefix that runs inside the namespaces of process `pid`."""
    return ["nsenter", "--target", str(pid), "--user", "--mount", "--preserve-credentials"]


async def _namespaces_allowed(directory: Path) -> bool:
    """Whether this test's whole mechanism works here: a tmpfs in new namespaces, entered."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = directory / "probe"
    probe.mkdir()
    mounted = 'mount -t tmpfs -o size=1m tmpfs "$1" && touch "$1/here" && exec sleep 30'
    process = await trio.lowlevel.open_process([*UNSHARE, mounted, "sh", str(probe)])
    try:
        with trio.move_on_after(5):
            while process.poll() is None:  # wait for the mount, or the failure
                entered = await trio.run_process(
                    [*nsenter(process.pid), "test", "-e", f"{probe}/here"],
                    check=False,
                    stderr=subprocess.DEVNULL,
                )
                if entered.returncode == 0:
                    return True
                await trio.sleep(0.05)
        return False
    finally:
        process.kill()
        await process.wait()


@pytest.mark.timeout(90)
async def test_a_full_disk_refuses_every_write_cleanly_and_recovers(tmp_path: Path) -> None:
    """Real (see the module's docstring): ENOSPC from a full tmpfs. Pass: as for the
    simulated test, with every kind of write (garage purchases too) refused with the
    documented error while the disk is full; the clicker's sweep, pruning the request log
    every 0.2 s, fails all along without stopping the server; once the ballast is deleted
    every write is stored; the server never restarts, logs no traceback, and stops on
    SIGTERM with status 0. Each check reads a consistent copy made with SQLite's backup
    API inside the server's namespace."""
    if not await _namespaces_allowed(tmp_path):
        pytest.skip("user and mount namespaces are not allowed here (unshare)")
    extra = (
        f"[realtime]\nrate_per_second = 1e6\nrate_burst = 1000000\nidempotency_window = 1\n\n"
        f'[clicker]\nsweep_interval = 0.2\n\n[orders]\ntelegram_bot_token = "{BOT_TOKEN}"\n'
        f'pos_mode = "off"\n\n'
        # The whole tmpfs is smaller than the space uploads keep free: this test fills it.
        "[parties]\nmedia_keep_free_bytes = 0\n"
    )
    await seed_database(make_settings(tmp_path))
    # The users are made on an ordinary disk, the way any test makes them.
    async with server_process(write_config(tmp_path, extra)) as child:
        ports = (child.http_port, child.ws_port)
        buyers = await make_buyers(ports, tmp_path / "hearth.db", clicker=2, orders=1, garage=1)
        async with http_client(ports[0]) as http:
            writers = Writers(buyers, await person(http, "Owner"))
        child.signal(signal.SIGTERM)
        assert await child.wait() == 0
    moving = tmp_path / "moving.db"  # the database in one file, for the tmpfs
    with (
        closing(sqlite3.connect(tmp_path / "hearth.db")) as source,
        closing(sqlite3.connect(moving)) as copy,
    ):
        source.backup(copy)
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "on-disk").mkdir()
    config = write_config(tmp_path / "on-disk", extra, database=disk / "hearth.db")
    wrapper = [*UNSHARE, ON_TMPFS.format(size=TMPFS), "sh", str(disk), str(moving)]
    async with server_process(config, wrapper) as child:
        ports = (child.http_port, child.ws_port)
        pid = child.process.pid
        seen = Path(f"/proc/{pid}/root") / disk.relative_to("/")  # the tmpfs, from here
        snapshots = iter(range(1000))

        async def fill() -> None:
            with (seen / "ballast").open("wb", buffering=0) as ballast:
                for size in (1 << 20, 1 << 12, 1):
                    try:
                        while True:
                            ballast.write(b"\0" * size)
                    except OSError as error:
                        assert error.errno == errno.ENOSPC, error

        async def free() -> None:
            (seen / "ballast").unlink()

        async def look() -> tuple[Path, set[str]]:
            copy = tmp_path / f"snapshot-{next(snapshots)}.db"
            command = [sys.executable, "-c", SNAPSHOT, str(disk / "hearth.db"), str(copy)]
            await trio.run_process([*nsenter(pid), *command])
            return copy, set(os.listdir(seen / "media"))

        async def sweep_failed() -> None:
            """The clicker's sweep, pruning answers over a second old, ran into the full disk."""
            with trio.fail_after(10):
                while True:  # the log is a list another task fills: poll it
                    assert child.process.poll() is None, child.log[-20:]  # still serving
                    if any("request log not pruned" in line for line in child.log):
                        return
                    await trio.sleep(0.1)

        refusals = await _fill_and_free(
            writers,
            ports,
            fill=fill,
            free=free,
            look=look,
            must_refuse=KINDS,
            while_full=sweep_failed,
        )
        assert child.process.returncode is None  # no restart, and the sweep did not end it
        child.signal(signal.SIGTERM)
        assert await child.wait() == 0
    print(f"refused while the disk was full: {refusals}")
    assert not [line for line in child.log if "Traceback" in line], child.log
    errors = [line for line in child.log if " ERROR " in line]
    assert errors and all(line.endswith("database or disk is full") for line in errors), errors
