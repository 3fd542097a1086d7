"""A hypothesis state machine of random buys, sells, grants and races, by several users, on
three apps' balances (clicker money, orders bonuses, garage money), against the live
server on both ports: after every step every balance is what the rules say, none is
negative, and every bonus balance equals its ledger."""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import httpx
import pytest
import trio
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from trio_websocket import WebSocketConnection, open_websocket_url

import settings
from handlers.garage.store import upgrade_price
from server import Running
from tests.clients import Player, connect, prepare_player, race, register, user_id_of
from tests.orders_clients import (
    customer,
    grant_bonuses,
    ledger_matches,
    make_staff,
    order_body,
    staff_token,
)
from tests.sio_clients import emit_event, open_namespace, receive_event

T = TypeVar("T")
USERS = 2  # per app
EXAMPLES, STEPS = 10, 40

STOVE, STOVE_PRICE, STOVE_FACTOR = 4, 250, 3.2  # the clicker's upgrade 4
SUBTOTAL, DELIVERY, MOST_BONUS = 1070, 199, 267  # order_body() in city 1: 25% of 1070
ROOKIE, ROOKIE_UPGRADE = 1, 1000  # every new garage player's car, its upgrade_price
STREET, STREET_PRICE = 2, 5000


def stove_price(bought: int) -> int:
    """The next stove's price: its price, then price x factor^bought rounded half up."""
    return STOVE_PRICE if bought == 0 else math.floor(STOVE_PRICE * STOVE_FACTOR**bought + 0.5)


def earned(used: int) -> int:
    """Bonuses an order_body() order earns when it uses `used`: 3% of its total."""
    return (SUBTOTAL + DELIVERY - used) * 3 // 100


@dataclass
class Cook:
    user_id: int
    token: str
    money: int
    dishes: int = 0
    stoves: int = 0


@dataclass
class Customer:
    user_id: int
    token: str
    balance: int = 0
    orders: list[tuple[int, int, int]] = field(default_factory=list)  # id, used, earned
    cancelled: set[int] = field(default_factory=set)


@dataclass
class Driver:
    user_id: int
    token: str
    money: int = 0
    engine: int = 1
    street: bool = False


def on_loop(work: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `work(*args)` on the server's event loop, from the state machine's thread."""
    return trio.from_thread.run(work, *args)


@asynccontextmanager
async def garage_socket(port: int) -> AsyncIterator[WebSocketConnection]:
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    async with open_websocket_url(url) as socket:
        await open_namespace(socket)
        yield socket


@asynccontextmanager
async def players(port_list: list[int], token: str) -> AsyncIterator[list[Player]]:
    """One clicker connection per port, sessions started (and their broadcasts read)."""
    async with AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(connect(port, token)) for port in port_list]
        for index, player in enumerate(opened):
            for _ in range(len(opened) - 1 - index):
                assert (await player.receive())["request_type"] == "session"
        yield opened


def _one(database: str, query: str, *args: object) -> Any:
    with sqlite3.connect(database) as connection:
        row = connection.execute(query, args).fetchone()
    return row[0] if row is not None else None


# Ten rules; a race sends 2..10 requests per connection on two connections (both ports).
# Worker threads stay on: the machine runs in a thread of its own and calls into the loop.
@pytest.mark.settings(orders={"pos_mode": "off"})
async def test_random_buys_sells_grants_and_races_keep_every_balance(
    server: Running, http: httpx.AsyncClient, config: settings.Settings
) -> None:
    """10 examples of 40 random steps (hypothesis), two users per app: clicker cooks, sells,
    stove purchases and purchase races; orders bonus grants, orders spending bonuses,
    cancellations (refund, take back) and order races; garage grants, upgrades, car
    purchases and upgrade races. Each answer is the one the rules give for the state
    before it (a race: as many successes as a one-by-one run would have); after each
    step every stored balance equals the model's and none is negative, and the bonus
    ledger sums to every balance."""
    database = config.storage.path
    make_staff(database, "economy@example.com", "admin")
    admin = {"Authorization": f"Bearer {await staff_token(http, 'economy@example.com')}"}
    ports = [server.ws_port, server.http_port]
    serial = itertools.count(1)

    async def new_cook(money: int) -> Cook:
        tokens = await register(http)
        user_id = user_id_of(tokens)
        await trio.to_thread.run_sync(
            partial(prepare_player, database, user_id, {1: 1}, money=money)
        )
        return Cook(user_id, tokens["access_token"], money)

    async def new_customer() -> Customer:
        token, user = await customer(http, 80_000 + next(serial))
        return Customer(user["id"], token)

    async def new_driver() -> Driver:
        token = f"economy-{next(serial):05d}-" + "x" * 30
        async with garage_socket(server.ws_port) as socket:
            await emit_event(socket, "register_command", {"device": "iOS", "token": token})
            event, data = await receive_event(socket)
        assert event == "profile"
        return Driver(data["user"]["id"], token)

    async def clicker_request(cook: Cook, port: int, request_type: str, **data: Any) -> Any:
        async with connect(port, cook.token) as player:
            # An id of its own: each connection's would start again at r1, and a user's
            # repeated id is a retry.
            await player.send(request_type, f"e{next(serial)}", **data)
            return await player.receive()

    async def garage_request(driver: Driver, port: int, event: str, **data: Any) -> Any:
        async with garage_socket(port) as socket:
            await emit_event(socket, event, {"token": driver.token, **data})
            return await receive_event(socket)

    async def garage_race(driver: Driver, per_socket: int) -> list[str]:
        upgrade = {"token": driver.token, "car_id": ROOKIE, "upgrade_type": "engine"}
        statuses: list[str] = []

        async def burst(port: int) -> None:
            async with garage_socket(port) as socket:
                for _ in range(per_socket):
                    await emit_event(socket, "car_upgrade", upgrade)
                for _ in range(per_socket):
                    event, data = await receive_event(socket)
                    assert event == "status", (event, data)
                    statuses.append(data["status"])

        async with trio.open_nursery() as nursery:
            for port in ports:
                nursery.start_soon(burst, port)
        return statuses

    async def clicker_race(cook: Cook, per_connection: int) -> dict[str, dict[str, Any]]:
        async with players(ports, cook.token) as racers:
            prefix = f"e{next(serial)}-"
            return await race(racers, per_connection, "upgrade_buy", prefix, id=STOVE)

    async def place(buyer: Customer, used: int) -> httpx.Response:
        bearer = {"Authorization": f"Bearer {buyer.token}"}
        return await http.post("/api/orders", json=order_body(bonus_to_use=used), headers=bearer)

    async def order_race(buyer: Customer, used: int, count: int) -> list[httpx.Response]:
        answers: list[httpx.Response] = []

        async def one() -> None:
            answers.append(await place(buyer, used))

        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
        return answers

    async def cancel_order(order_id: int) -> httpx.Response:
        return await http.put(
            f"/api/orders/admin/{order_id}/status", json={"status": "cancelled"}, headers=admin
        )

    users = st.integers(0, USERS - 1)
    port_index = st.integers(0, 1)

    class Economy(RuleBasedStateMachine):
        cooks: list[Cook]
        customers: list[Customer]
        drivers: list[Driver]

        @initialize(money=st.lists(st.integers(0, 4000), min_size=USERS, max_size=USERS))
        def create_users(self, money: list[int]) -> None:
            self.cooks = [on_loop(new_cook, amount) for amount in money]
            self.customers = [on_loop(new_customer) for _ in range(USERS)]
            self.drivers = [on_loop(new_driver) for _ in range(USERS)]

        # -- the clicker: money from sales, stoves bought with it ----------------------

        @rule(u=users, port=port_index)
        def cook(self, u: int, port: int) -> None:
            cook = self.cooks[u]
            frame = on_loop(clicker_request, cook, ports[port], "cook")
            cook.dishes += 1 + cook.stoves
            assert frame["data"]["dishes"] == cook.dishes, frame

        @rule(u=users, port=port_index)
        def sell(self, u: int, port: int) -> None:
            cook = self.cooks[u]
            frame = on_loop(clicker_request, cook, ports[port], "sell")
            if cook.dishes == 0:
                assert frame["data"] == {"message": "not enough dishes"}, frame
                return
            cook.dishes, cook.money = cook.dishes - 1, cook.money + 1
            assert (frame["data"]["dishes"], frame["data"]["money"]) == (cook.dishes, cook.money)

        @rule(u=users, port=port_index)
        def buy_stove(self, u: int, port: int) -> None:
            cook = self.cooks[u]
            price = stove_price(cook.stoves)
            buy = partial(clicker_request, id=STOVE)
            frame = on_loop(buy, cook, ports[port], "upgrade_buy")
            if cook.money < price:
                message = f"not enough money, you have: {cook.money}, you need: {price}"
                assert frame["data"] == {"message": message}, frame
                return
            cook.money, cook.stoves = cook.money - price, cook.stoves + 1
            assert frame["data"]["money"] == cook.money, frame

        @rule(u=users, per_connection=st.integers(2, 10))
        def race_for_stoves(self, u: int, per_connection: int) -> None:
            cook = self.cooks[u]
            answers = on_loop(clicker_race, cook, per_connection)
            bought = 0
            while bought < len(answers) and cook.money >= stove_price(cook.stoves):
                cook.money -= stove_price(cook.stoves)
                cook.stoves, bought = cook.stoves + 1, bought + 1
            successes = [a for a in answers.values() if a["request_type"] != "error"]
            assert len(successes) == bought, (answers, cook)

        # -- orders: bonuses granted, spent on orders, given back by cancelling -------

        @rule(u=users, amount=st.integers(1, 800))
        def grant_bonus(self, u: int, amount: int) -> None:
            buyer = self.customers[u]
            grant_bonuses(database, buyer.user_id, amount)  # this thread: the loop goes on
            buyer.balance += amount

        @rule(u=users, used=st.integers(0, 300))
        def order(self, u: int, used: int) -> None:
            buyer = self.customers[u]
            response = on_loop(place, buyer, used)
            if used > buyer.balance:
                refusal = f"Insufficient bonus balance. Available: {buyer.balance}"
            elif used > MOST_BONUS:
                refusal = f"Maximum {MOST_BONUS} bonuses can be used for this order"
            else:
                assert response.status_code == 201, response.text
                created = response.json()
                assert created["bonuses_earned"] == earned(used)
                buyer.balance += earned(used) - used
                buyer.orders.append((created["order"]["id"], used, earned(used)))
                return
            assert (response.status_code, response.json()) == (400, {"error": refusal})

        @precondition(lambda self: any(c.orders for c in self.customers))
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            buyer = data.draw(st.sampled_from([c for c in self.customers if c.orders]))
            order_id, used, gained = data.draw(st.sampled_from(buyer.orders))
            response = on_loop(cancel_order, order_id)
            assert response.status_code == 200, response.text
            if order_id not in buyer.cancelled:
                buyer.cancelled.add(order_id)
                buyer.balance += used
                buyer.balance -= min(gained, buyer.balance)

        @rule(u=users, used=st.integers(1, MOST_BONUS), count=st.integers(2, 8))
        def race_for_bonuses(self, u: int, used: int, count: int) -> None:
            buyer = self.customers[u]
            answers = on_loop(order_race, buyer, used, count)
            placed = 0
            while placed < count and buyer.balance >= used:
                buyer.balance += earned(used) - used
                placed += 1
            created = [a.json()["order"] for a in answers if a.status_code == 201]
            assert len(created) == placed, [a.text for a in answers]
            buyer.orders += [(order["id"], used, earned(used)) for order in created]

        # -- the garage: money granted, spent on upgrades and a car --------------------

        @rule(u=users, amount=st.integers(1, 20_000), port=port_index)
        def grant_money(self, u: int, amount: int, port: int) -> None:
            driver = self.drivers[u]
            answer = on_loop(
                partial(garage_request, type="money", amount=amount),
                driver,
                ports[port],
                "add_currency",
            )
            assert answer == ("profile", "CURRENCY_ADDED")
            driver.money += amount

        @rule(u=users, port=port_index)
        def upgrade(self, u: int, port: int) -> None:
            driver = self.drivers[u]
            price = upgrade_price(ROOKIE_UPGRADE, driver.engine)
            upgrade = partial(garage_request, car_id=ROOKIE, upgrade_type="engine")
            event, data = on_loop(upgrade, driver, ports[port], "car_upgrade")
            if driver.engine < 20 and driver.money >= price:
                driver.money, driver.engine = driver.money - price, driver.engine + 1
                assert (event, data) == ("status", {"status": "CAR_UPGRADED"})
            else:
                assert (event, data) == ("status", {"status": "RELOAD"})

        @rule(u=users, port=port_index)
        def buy_street(self, u: int, port: int) -> None:
            driver = self.drivers[u]
            event, data = on_loop(
                partial(garage_request, car_id=STREET), driver, ports[port], "buy_car"
            )
            assert event == "buy_car"
            if driver.street:
                assert data == {"success": False, "errors": ["ALREADY_HAVE_CAR"]}
            elif driver.money < STREET_PRICE:
                assert data == {"success": False, "errors": ["NOT_ENOUGH_CURRENCY"]}
            else:
                assert data["success"] is True, data
                driver.money, driver.street = driver.money - STREET_PRICE, True

        @rule(u=users, per_socket=st.integers(2, 10))
        def race_for_upgrades(self, u: int, per_socket: int) -> None:
            driver = self.drivers[u]
            statuses = on_loop(garage_race, driver, per_socket)
            upgraded = 0
            while (
                upgraded < len(statuses)
                and driver.engine < 20
                and driver.money >= upgrade_price(ROOKIE_UPGRADE, driver.engine)
            ):
                driver.money -= upgrade_price(ROOKIE_UPGRADE, driver.engine)
                driver.engine, upgraded = driver.engine + 1, upgraded + 1
            assert sorted(statuses) == ["CAR_UPGRADED"] * upgraded + ["RELOAD"] * (
                len(statuses) - upgraded
            )

        # -- after every step --------------------------------------------------------

        @invariant()
        def every_balance_is_as_the_rules_say(self) -> None:
            for cook in self.cooks:
                stored = _one(
                    database,
                    "SELECT money || ' ' || dishes FROM clicker_players WHERE user_id = ?",
                    cook.user_id,
                )
                assert stored == f"{cook.money} {cook.dishes}", (stored, cook)
                stoves = _one(
                    database,
                    "SELECT times_bought FROM clicker_owned WHERE user_id = ? AND upgrade_id = ?",
                    cook.user_id,
                    STOVE,
                )
                assert (stoves or 0) == cook.stoves
            for buyer in self.customers:
                balance = _one(
                    database,
                    "SELECT balance FROM bonus_accounts WHERE user_id = ?",
                    buyer.user_id,
                )
                assert (balance or 0) == buyer.balance, (balance, buyer)
            for driver in self.drivers:
                money = _one(
                    database, "SELECT money FROM garage_players WHERE user_id = ?", driver.user_id
                )
                engine = _one(
                    database,
                    "SELECT engine FROM garage_user_cars WHERE user_id = ? AND car_id = ?",
                    driver.user_id,
                    ROOKIE,
                )
                street = _one(
                    database,
                    "SELECT count(*) FROM garage_user_cars WHERE user_id = ? AND car_id = ?",
                    driver.user_id,
                    STREET,
                )
                assert (money, engine, bool(street)) == (driver.money, driver.engine, driver.street)

        @invariant()
        def nothing_is_negative_and_the_ledger_adds_up(self) -> None:
            for table, column in (
                ("clicker_players", "money"),
                ("clicker_players", "dishes"),
                ("bonus_accounts", "balance"),
                ("garage_players", "money"),
            ):
                lowest = _one(database, f"SELECT min({column}) FROM {table}")
                assert lowest is None or lowest >= 0, (table, column, lowest)
            assert ledger_matches(database)

    run = partial(
        run_state_machine_as_test,
        Economy,
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # no example database in the work tree
            # No shrinking: against a live server it outlasts the test's timeout; a failure
            # prints its whole run of steps instead.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    await trio.to_thread.run_sync(run)
