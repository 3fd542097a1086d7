"""Buyers for the reliability tests: clients that make purchases in three apps, remember
what the server acknowledged, and check a database against it.

- `ClickerBuyer`: a clicker player buying repeatable upgrades over `/ws` (envelope codec),
  every request with its own `request_id`.
- `OrdersBuyer`: an orders customer placing orders that spend and earn bonuses (REST).
- `GarageBuyer`: a garage player buying cars, then car upgrades (Socket.IO, with acks).

A buyer sends one request at a time, so when the server dies at most one request is
`pending`: sent and never answered, it may or may not have been applied. `check` asserts
that the database holds exactly what was acknowledged, plus perhaps the pending purchase,
and that every balance reconciles (the bonus ledger; money against the catalogue prices
of what is owned). `settle` then resolves the pending purchase: the clicker retries it
with the same request id (the server must answer the first answer if it was applied,
and apply it now if not); the others take the database's word. Answers are checked as
they come: a documented "storage unavailable" refusal counts in `unavailable` and must
have changed nothing; any answer not documented fails the test.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
import trio_websocket

from handlers.clicker import rules
from handlers.clicker import store as clicker_store
from handlers.garage.store import UPGRADE_CAP, UPGRADES, upgrade_price
from realtime.envelope import TEXTS as ENVELOPE_TEXTS
from realtime.socketio import TEXTS as SOCKETIO_TEXTS
from server import STORAGE_UNAVAILABLE
from tests.clients import Player, connect, prepare_player, register, user_id_of
from tests.orders_clients import customer, grant_bonuses, ledger_matches, order_body
from tests.sio_clients import RawSocketIO, raw_socketio

CLICKER_MONEY = 2**62
# Upgrades that can be bought again and again and give no passive income (so no tick
# changes a balance behind the buyer's back): (id, price, price factor) in the catalogue.
CLICKER_UPGRADES = (4, 10, 15, 25, 33, 41, 42, 57, 62, 63)
ORDERS_BONUSES = 1000
ORDERS_BONUS_PER_ORDER = 100
# Orders one buyer places at most: the orders app numbers a UTC day's orders 1000-9999,
# and the crash soak's four buyers placed all 9,000 in one run on a fast host.
ORDERS_PER_BUYER = 1500
GARAGE_MONEY = 10**12
GARAGE_CARS = (2, 3, 4, 5)  # car 1 is every player's starter


class ServerGone(Exception):
    """The connection to the server broke (it was killed, or is not up)."""


# What a client sees when the server dies under it.
_TRANSPORT_ERRORS = (
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    httpx.TransportError,
    OSError,
)


@contextmanager
def _gone_on_transport_errors() -> Iterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as error:
        raise ServerGone(repr(error)) from error


@contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    """A connection that only reads (so it never checkpoints the server's WAL), closed after."""
    connection = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def integrity(database: Path) -> str:
    with read_only(database) as connection:
        result: str = connection.execute("PRAGMA integrity_check").fetchone()[0]
    return result


class ClickerBuyer:
    kind = "clicker"

    def __init__(self, tokens: dict[str, str], catalogue: rules.Catalogue) -> None:
        self.user_id = user_id_of(tokens)
        self.token = tokens["access_token"]
        self.catalogue = catalogue
        self.money = CLICKER_MONEY  # as the server last answered
        self.owned: Counter[int] = Counter()
        self.choices = list(CLICKER_UPGRADES)  # those still affordable
        self.pending: tuple[str, int] | None = None  # (request id, upgrade id)
        self.acknowledged = 0
        self.unavailable = 0
        self._ids = itertools.count(1)

    @classmethod
    async def create(cls, http: httpx.AsyncClient, database: Path) -> ClickerBuyer:
        tokens = await register(http)
        prepare_player(str(database), user_id_of(tokens), money=CLICKER_MONEY)
        with read_only(database) as connection:
            catalogue = clicker_store.load_catalogue(connection)
        return cls(tokens, catalogue)

    @property
    def done(self) -> bool:
        return not self.choices

    def _price(self, upgrade_id: int) -> int:
        price = rules.price(self.catalogue.by_id[upgrade_id], self.owned[upgrade_id])
        assert price is not None
        return price

    async def shop(self, ports: tuple[int, int], purchases: int | None = None) -> None:
        """Buy over one connection until `purchases` were answered (None: until done)."""
        with _gone_on_transport_errors():
            async with connect(ports[1], self.token) as player:
                for _ in itertools.count() if purchases is None else range(purchases):
                    if self.done:
                        return
                    upgrade = self.choices[self.acknowledged % len(self.choices)]
                    request_id = f"buy-{self.user_id}-{next(self._ids)}"
                    self.pending = (request_id, upgrade)
                    await player.send("upgrade_buy", request_id, id=upgrade)
                    self._answered(await self._answer(player, request_id))

    async def _answer(self, player: Player, request_id: str) -> dict[str, Any]:
        while True:  # frames for other requests (none are expected) are skipped
            frame = await player.receive()
            if frame["request_id"] == request_id:
                return frame

    def _answered(self, frame: dict[str, Any]) -> None:
        assert self.pending is not None
        upgrade = self.pending[1]
        if frame["request_type"] == "error":
            message = frame["data"]["message"]
            if message == ENVELOPE_TEXTS.unavailable:
                self.unavailable += 1
            elif message.startswith("not enough money"):
                self.choices.remove(upgrade)
            else:
                raise AssertionError(f"clicker {self.user_id}: unexpected answer {frame}")
        else:
            assert frame["request_type"] == "upgrade_buy", frame
            # The answer is exactly one purchase more than the last one.
            assert frame["data"]["money"] == self.money - self._price(upgrade), (frame, self.money)
            self.money = frame["data"]["money"]
            self.owned[upgrade] += 1
            self.acknowledged += 1
        self.pending = None

    def _owned(self, connection: sqlite3.Connection) -> Counter[int]:
        return Counter(
            dict(
                connection.execute(
                    "SELECT upgrade_id, times_bought FROM clicker_owned WHERE user_id = ?",
                    (self.user_id,),
                ).fetchall()
            )
        )

    def lost(self, connection: sqlite3.Connection) -> int:
        """How many acknowledged purchases the database lacks."""
        return sum((self.owned - self._owned(connection)).values())

    def check(self, connection: sqlite3.Connection) -> bool:
        """Assert the database holds what was acknowledged (and perhaps the pending
        purchase); whether the pending one was applied."""
        money = connection.execute(
            "SELECT money FROM clicker_players WHERE user_id = ?", (self.user_id,)
        ).fetchone()[0]
        owned = self._owned(connection)
        if (money, owned) == (self.money, self.owned):
            return False
        assert self.pending is not None, (self.user_id, money, owned, self.money, self.owned)
        upgrade = self.pending[1]
        landed = (self.money - self._price(upgrade), self.owned + Counter({upgrade: 1}))
        assert (money, owned) == landed, (self.user_id, money, owned, self.money, self.owned)
        return True

    async def settle(self, ports: tuple[int, int], landed: bool) -> None:
        """Retry the pending request with its id: the first answer again, or applied now."""
        if self.pending is None:
            return
        request_id, upgrade = self.pending
        with _gone_on_transport_errors():
            async with connect(ports[1], self.token) as player:
                await player.send("upgrade_buy", request_id, id=upgrade)
                frame = await self._answer(player, request_id)
        if landed:  # the answer logged with the effect, never a second purchase
            assert frame["request_type"] == "upgrade_buy", frame
        self._answered(frame)

    def check_settled(self, connection: sqlite3.Connection) -> None:
        assert self.pending is None and not self.check(connection)


class OrdersBuyer:
    kind = "orders"

    def __init__(self, token: str, user_id: int) -> None:
        self.token = token
        self.user_id = user_id
        self.balance = ORDERS_BONUSES
        self.orders: dict[int, tuple[int, int, int]] = {}  # id: (bonus_used, earned, total)
        self.pending = False
        self.acknowledged = 0
        self.unavailable = 0

    @property
    def done(self) -> bool:
        # Bonuses never run out (each order earns some); a day's order numbers would.
        return len(self.orders) >= ORDERS_PER_BUYER

    @classmethod
    async def create(cls, http: httpx.AsyncClient, database: Path, telegram_id: int) -> OrdersBuyer:
        token, user = await customer(http, telegram_id)
        grant_bonuses(str(database), user["id"], ORDERS_BONUSES)
        return cls(token, user["id"])

    async def shop(self, ports: tuple[int, int], purchases: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with _gone_on_transport_errors():
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports[0]}", headers=headers, timeout=10
            ) as http:
                for _ in itertools.count() if purchases is None else range(purchases):
                    if self.done:
                        return
                    bonus = min(ORDERS_BONUS_PER_ORDER, self.balance)
                    self.pending = True
                    response = await http.post("/api/orders", json=order_body(bonus_to_use=bonus))
                    self._answered(response, bonus)

    def _answered(self, response: httpx.Response, bonus: int) -> None:
        if response.status_code == 503:
            assert response.json() == {
                "error": "Service Unavailable",
                "message": STORAGE_UNAVAILABLE,
            }, response.text
            self.unavailable += 1
        else:
            assert response.status_code == 201, response.text
            order = response.json()["order"]
            assert order["bonus_used"] == bonus, order
            self._keep(order["id"], (bonus, order["bonuses_earned"], order["total"]))
            self.acknowledged += 1
        self.pending = False

    def _keep(self, order_id: int, order: tuple[int, int, int]) -> None:
        self.orders[order_id] = order
        self.balance += order[1] - order[0]

    def _stored(self, connection: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
        """The user's orders; asserts each is whole (its lines and ledger rows)."""
        stored: dict[int, tuple[int, int, int]] = {}
        for order_id, used, earned, total in connection.execute(
            "SELECT id, bonus_used, bonuses_earned, total FROM orders WHERE user_id = ?",
            (self.user_id,),
        ):
            lines = connection.execute(
                "SELECT count(*) FROM order_items WHERE order_id = ?", (order_id,)
            ).fetchone()[0]
            ledger = dict(
                connection.execute(
                    "SELECT type, amount FROM bonus_ledger WHERE order_id = ?", (order_id,)
                ).fetchall()
            )
            assert lines == 2, (order_id, lines)
            assert ledger == {
                kind: amount for kind, amount in (("used", used), ("earned", earned)) if amount
            }, (order_id, ledger)
            stored[order_id] = (used, earned, total)
        return stored

    def lost(self, connection: sqlite3.Connection) -> int:
        stored = {
            order_id
            for (order_id,) in connection.execute(
                "SELECT id FROM orders WHERE user_id = ?", (self.user_id,)
            )
        }
        return len(self.orders.keys() - stored)

    def check(self, connection: sqlite3.Connection) -> bool:
        stored = self._stored(connection)
        balance = connection.execute(
            "SELECT balance FROM bonus_accounts WHERE user_id = ?", (self.user_id,)
        ).fetchone()[0]
        extra = stored.keys() - self.orders.keys()
        assert {key: stored.get(key) for key in self.orders} == self.orders, (stored, self.orders)
        assert len(extra) <= (1 if self.pending else 0), (self.user_id, extra)
        assert balance == ORDERS_BONUSES + sum(e - u for u, e, _ in stored.values()), balance
        return bool(extra)

    async def settle(self, ports: tuple[int, int], landed: bool, database: Path) -> None:
        if landed:
            with read_only(database) as connection:
                stored = self._stored(connection)
            for order_id in stored.keys() - self.orders.keys():
                self._keep(order_id, stored[order_id])
        self.pending = False

    def check_settled(self, connection: sqlite3.Connection) -> None:
        assert not self.pending and not self.check(connection)


class GarageBuyer:
    kind = "garage"

    def __init__(self, token: str, user_id: int, cars: dict[int, tuple[int, int]]) -> None:
        self.token = token
        self.user_id = user_id
        self.catalogue = cars  # car id: (price, upgrade base price)
        self.cars = {1}
        self.levels: Counter[tuple[int, str]] = Counter()  # levels above 1
        self.pending: tuple[int, str | None] | None = None  # (car, part or None: the car)
        self.acknowledged = 0
        self.unavailable = 0

    @classmethod
    async def create(cls, port: int, database: Path, number: int) -> GarageBuyer:
        token = f"garage-buyer-{number:04d}-" + "x" * 24
        async with raw_socketio(port) as sio:
            user = (await sio.call("register", {"device": "android", "token": token}))["user"]
        with closing(sqlite3.connect(database)) as connection, connection:
            connection.execute(
                "UPDATE garage_players SET money = ? WHERE user_id = ?", (GARAGE_MONEY, user["id"])
            )
            cars = {
                car_id: (price, base)
                for car_id, price, base in connection.execute(
                    "SELECT id, price, upgrade_price FROM garage_cars"
                )
            }
        return cls(token, user["id"], cars)

    def _next(self) -> tuple[int, str | None] | None:
        for car in GARAGE_CARS:
            if car not in self.cars:
                return car, None
        open_parts = [
            (car, part)
            for car in sorted(self.cars)
            for part in UPGRADES
            if self.levels[car, part] + 1 < UPGRADE_CAP
        ]
        return open_parts[self.acknowledged % len(open_parts)] if open_parts else None

    @property
    def done(self) -> bool:
        return self._next() is None

    async def shop(self, ports: tuple[int, int], purchases: int | None = None) -> None:
        with _gone_on_transport_errors():
            async with raw_socketio(ports[1]) as sio:
                for _ in itertools.count() if purchases is None else range(purchases):
                    purchase = self._next()
                    if purchase is None:
                        return
                    self.pending = purchase
                    self._answered(await self._send(sio, purchase))

    async def _send(self, sio: RawSocketIO, purchase: tuple[int, str | None]) -> Any:
        car, part = purchase
        if part is None:
            return await sio.call("buy_car", {"car_id": car, "token": self.token})
        data = {"car_id": car, "upgrade_type": part, "token": self.token}
        return await sio.call("car_upgrade", data)

    def _answered(self, answer: Any) -> None:
        assert self.pending is not None
        car, part = self.pending
        if answer == {"error": SOCKETIO_TEXTS.unavailable}:
            self.unavailable += 1
        elif part is None:
            assert answer["success"] is True, answer
            assert answer["user_car"]["id"] == car, answer
            self.cars.add(car)
            self.acknowledged += 1
        else:
            assert answer == {"status": "CAR_UPGRADED"}, answer
            self.levels[car, part] += 1
            self.acknowledged += 1
        self.pending = None

    def _stored(self, connection: sqlite3.Connection) -> tuple[set[int], Counter[tuple[int, str]]]:
        """The player's cars and upgrades; asserts the money reconciles with them."""
        cars: set[int] = set()
        levels: Counter[tuple[int, str]] = Counter()
        spent = 0
        for car, *parts in connection.execute(
            f"SELECT car_id, {', '.join(UPGRADES)} FROM garage_user_cars WHERE user_id = ?",
            (self.user_id,),
        ):
            cars.add(car)
            price, base = self.catalogue[car]
            spent += price
            for part, level in zip(UPGRADES, parts, strict=True):
                levels[car, part] = level - 1
                spent += sum(upgrade_price(base, below) for below in range(1, level))
        money = connection.execute(
            "SELECT money FROM garage_players WHERE user_id = ?", (self.user_id,)
        ).fetchone()[0]
        assert money == GARAGE_MONEY - spent, (self.user_id, money, GARAGE_MONEY - spent)
        return cars, +levels

    def lost(self, connection: sqlite3.Connection) -> int:
        rows = connection.execute(
            f"SELECT car_id, {', '.join(UPGRADES)} FROM garage_user_cars WHERE user_id = ?",
            (self.user_id,),
        ).fetchall()
        levels = Counter(
            {
                (car, part): level - 1
                for car, *parts in rows
                for part, level in zip(UPGRADES, parts, strict=True)
            }
        )
        return len(self.cars - {row[0] for row in rows}) + sum((self.levels - levels).values())

    def check(self, connection: sqlite3.Connection) -> bool:
        cars, levels = self._stored(connection)
        if (cars, levels) == (self.cars, +self.levels):
            return False
        assert self.pending is not None, (self.user_id, cars, levels, self.cars, self.levels)
        car, part = self.pending
        expected = (
            (self.cars | {car}, +self.levels)
            if part is None
            else (self.cars, self.levels + Counter({(car, part): 1}))
        )
        assert (cars, levels) == expected, (self.user_id, cars, levels, self.cars, self.levels)
        return True

    async def settle(self, ports: tuple[int, int], landed: bool, database: Path) -> None:
        if landed:
            with read_only(database) as connection:
                self.cars, self.levels = self._stored(connection)
        self.pending = None

    def check_settled(self, connection: sqlite3.Connection) -> None:
        assert self.pending is None and not self.check(connection)


Buyer = ClickerBuyer | OrdersBuyer | GarageBuyer


async def settle(buyer: Buyer, ports: tuple[int, int], landed: bool, database: Path) -> None:
    if isinstance(buyer, ClickerBuyer):
        await buyer.settle(ports, landed)
    else:
        await buyer.settle(ports, landed, database)


@asynccontextmanager
async def http_client(port: int) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield http


async def make_buyers(
    ports: tuple[int, int], database: Path, *, clicker: int, orders: int, garage: int
) -> list[Buyer]:
    """New users in each app, with money (or bonuses) for many purchases."""
    buyers: list[Buyer] = []
    async with http_client(ports[0]) as http:
        buyers += [await ClickerBuyer.create(http, database) for _ in range(clicker)]
        buyers += [await OrdersBuyer.create(http, database, 5000 + n) for n in range(orders)]
    buyers += [await GarageBuyer.create(ports[1], database, n) for n in range(garage)]
    return buyers


def count_lost(buyers: list[Buyer], database: Path) -> int:
    """Acknowledged purchases missing from the database."""
    with read_only(database) as connection:
        return sum(buyer.lost(connection) for buyer in buyers)


def check_all(buyers: list[Buyer], database: Path) -> list[bool]:
    """Check every buyer against the database (see `check`); also every bonus balance
    against its ledger, and the file's integrity. Which pending purchases were applied."""
    assert integrity(database) == "ok"
    assert ledger_matches(str(database))
    with read_only(database) as connection:
        landed = [buyer.check(connection) for buyer in buyers]
    return landed


def check_settled(buyers: list[Buyer], database: Path) -> None:
    """Every buyer's purchases are in the database, exactly."""
    assert integrity(database) == "ok"
    assert ledger_matches(str(database))
    with read_only(database) as connection:
        for buyer in buyers:
            buyer.check_settled(connection)
