"""Crash consistency: purchases in three apps while the server is `kill -9`ed at random.

One implementation for the short run in `tests/test_crash_consistency.py` (part of
`make test`) and the long one in `scripts/soak.py` (`make soak`).

A real server process (`tests/process.py`) serves a seeded database. Buyers
(`tests/buyers.py`) shop concurrently in the clicker (upgrades over `/ws`), the orders
app (orders with bonuses, REST) and the garage (cars and upgrades, Socket.IO), each
sending one request at a time. At a random moment the server gets SIGKILL. It is started
again on the same file, and before anyone shops again:

- it must serve (HTTP answers) within `MAX_RESTART_SECONDS` of being started;
- `PRAGMA integrity_check` is ok and every bonus balance equals the sum of its ledger;
- every purchase the server acknowledged is in the database, exactly (`lost` counts the
  ones that are not, and must be 0), and money reconciles with what is owned;
- a request that was in flight at the kill is either wholly applied or not at all; the
  clicker's is retried with its request id and must get the first answer (if it was
  applied) or be applied once now; the others are settled from the database.

After the last restart every buyer's purchases are checked exactly once more, and the
server stops on SIGTERM with status 0.
"""

from __future__ import annotations

import random
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from tests.buyers import (
    Buyer,
    ServerGone,
    check_all,
    check_settled,
    count_lost,
    make_buyers,
    settle,
)
from tests.conftest import make_settings, seed_database
from tests.orders_clients import BOT_TOKEN
from tests.process import ServerProcess, server_process, write_config

MAX_RESTART_SECONDS = 5.0
CONFIG = f"""
[realtime]
rate_per_second = 1e6
rate_burst = 1000000

[orders]
telegram_bot_token = "{BOT_TOKEN}"
pos_mock_delay = 0.05
"""


@dataclass
class CrashReport:
    seed: int
    restarts: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)  # purchases, by app
    in_flight: int = 0  # requests unanswered when the server was killed
    landed: int = 0  # of those, applied all the same
    lost: int = 0  # acknowledged purchases missing after a restart
    restart_seconds: list[float] = field(default_factory=list)  # start to serving

    @property
    def purchases(self) -> int:
        return sum(self.acknowledged.values())

    def __str__(self) -> str:
        slowest = max(self.restart_seconds, default=0.0)
        return (
            f"seed {self.seed}: {self.restarts} kill -9 restarts, {self.purchases} purchases"
            f" acknowledged {self.acknowledged}, {self.lost} lost; {self.in_flight} in flight"
            f" at a kill, {self.landed} of them applied; slowest restart {slowest:.2f} s"
        )


async def crash_run(
    directory: Path,
    *,
    restarts: int,
    purchases: int,
    seed: int,
    buyers: tuple[int, int, int] = (4, 2, 2),
    longest_life: float = 1.0,
) -> CrashReport:
    """Kill and restart the server at least `restarts` times, and on until `purchases`
    were acknowledged; `buyers` is how many shop in the clicker, orders and garage, and
    each life of the server lasts up to `longest_life` seconds of shopping."""
    rng = random.Random(seed)
    report = CrashReport(seed)
    database = directory / "hearth.db"
    await seed_database(make_settings(directory))
    config = write_config(directory, CONFIG)
    shoppers: list[Buyer] = []
    for life in range(restarts * 10):  # the bound only stops a run that cannot progress
        async with _serving(config, report, restart=life > 0) as child:
            ports = (child.http_port, child.ws_port)
            if life == 0:
                clicker, orders, garage = buyers
                shoppers = await make_buyers(
                    ports, database, clicker=clicker, orders=orders, garage=garage
                )
            else:
                await _recover(shoppers, ports, database, report)
            if report.restarts >= restarts and report.purchases >= purchases:
                check_settled(shoppers, database)
                _tally(shoppers, report)  # with the retries of the last restart
                child.signal(signal.SIGTERM)
                assert await child.wait() == 0
                _assert_clean(child)
                return report
            await _shop_until_killed(child, shoppers, rng.uniform(0.0, longest_life))
            _assert_clean(child)
        report.restarts += 1
        report.in_flight += sum(bool(buyer.pending) for buyer in shoppers)
        _tally(shoppers, report)
    raise AssertionError(f"no progress: {report}")


def _tally(buyers: list[Buyer], report: CrashReport) -> None:
    report.acknowledged = {}
    for buyer in buyers:
        report.acknowledged[buyer.kind] = report.acknowledged.get(buyer.kind, 0) + (
            buyer.acknowledged
        )


@asynccontextmanager
async def _serving(
    config: Path, report: CrashReport, *, restart: bool
) -> AsyncIterator[ServerProcess]:
    """Start the server; assert it serves within MAX_RESTART_SECONDS of the start."""
    started = trio.current_time()
    async with server_process(config) as child:
        async with httpx.AsyncClient(timeout=MAX_RESTART_SECONDS) as http:
            response = await http.get(f"http://127.0.0.1:{child.http_port}/health")
        assert response.status_code == 200, response.text
        elapsed = trio.current_time() - started
        if restart:
            report.restart_seconds.append(elapsed)
            assert elapsed < MAX_RESTART_SECONDS, (elapsed, str(report))
        yield child


async def _recover(
    buyers: list[Buyer], ports: tuple[int, int], database: Path, report: CrashReport
) -> None:
    """After a restart: everything acknowledged is there; settle what was in flight."""
    report.lost += count_lost(buyers, database)
    assert report.lost == 0, str(report)
    landed = check_all(buyers, database)
    report.landed += sum(landed)
    for buyer, applied in zip(buyers, landed, strict=True):
        await settle(buyer, ports, applied, database)


async def _shop_until_killed(child: ServerProcess, buyers: list[Buyer], life: float) -> None:
    async def shop(buyer: Buyer) -> None:
        with suppress(ServerGone):  # the kill ends every shopping trip
            await buyer.shop((child.http_port, child.ws_port))

    with trio.fail_after(life + 30):  # a shopping trip that hangs is a failure
        async with trio.open_nursery() as nursery:
            for buyer in buyers:
                nursery.start_soon(shop, buyer)
            await trio.sleep(life)
            child.signal(signal.SIGKILL)
            await child.wait()
            # A client caught in its opening handshake may not notice the server is gone
            # (trio-websocket waits on); nothing can reach a dead server: stop them.
            nursery.cancel_scope.deadline = trio.current_time() + 2


def _assert_clean(child: ServerProcess) -> None:
    """The server logged no error and no traceback."""
    bad = [line for line in child.log if " ERROR " in line or "Traceback" in line]
    assert not bad, bad
