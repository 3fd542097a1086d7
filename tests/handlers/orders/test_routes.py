"""The orders REST routes: logins, every documented refusal, bonuses under concurrency."""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import jwt
import pytest
import trio

import settings
from tests.conftest import TEST_SECRETS, seed_database
from tests.orders_clients import (
    customer,
    grant_bonuses,
    ledger_matches,
    make_staff,
    order_body,
    staff_token,
    telegram_fields,
)
from tests.process import ROOT


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token, TEST_SECRETS["access_token"], algorithms=["HS256"], audience="hearth-clients"
    )
    return claims


async def test_telegram_login(http: httpx.AsyncClient) -> None:
    token, user = await customer(http, 777)
    assert user == {
        "id": user["id"],
        "telegram_id": 777,
        "role": "user",
        "first_name": "Ivan",
        "last_name": "",
        "username": "user777",
        "photo_url": "",
    }
    claims = _claims(token)
    assert (claims["id"], claims["role"], claims["cities"]) == (user["id"], "user", [])
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600  # type: ignore[operator]
    _, same = await customer(http, 777)
    assert same["id"] == user["id"]
    forged = telegram_fields(777) | {"first_name": "Mallory"}
    assert (await http.post("/api/auth/telegram", json=forged)).json() == {
        "error": "Invalid Telegram login"
    }
    old = telegram_fields(778, auth_date=int(time.time()) - 2 * 86400)
    response = await http.post("/api/auth/telegram", json=old)
    assert (response.status_code, response.json()) == (401, {"error": "Telegram login is too old"})
    other_bot = telegram_fields(779, bot_token="999:other")
    assert (await http.post("/api/auth/telegram", json=other_bot)).status_code == 401
    missing = await http.post("/api/auth/telegram", json={"id": 1})
    assert missing.status_code == 400
    # A field this server does not know is still part of what Telegram signed.
    newer = telegram_fields(780, allows_write_to_pm="true")
    assert (await http.post("/api/auth/telegram", json=newer)).status_code == 200
    smuggled = telegram_fields(781) | {"role": "admin"}
    assert (await http.post("/api/auth/telegram", json=smuggled)).status_code == 401
    as_form = {key: str(value) for key, value in telegram_fields(782).items()}
    assert (await http.post("/api/auth/telegram", data=as_form)).status_code == 200


@pytest.mark.settings(orders={"telegram_bot_token": ""})
async def test_telegram_login_without_a_bot_token_is_503(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/auth/telegram", json=telegram_fields(1))
    assert (response.status_code, response.json()) == (
        503,
        {"error": "Telegram login is not configured"},
    )


async def test_staff_login(http: httpx.AsyncClient, config: settings.Settings) -> None:
    manager = make_staff(config.storage.path, "m@example.com", "manager", (1, 2))
    response = await http.post(
        "/api/auth/admin/login", json={"email": "m@example.com", "password": "staff password"}
    )
    body = response.json()
    assert body["user"] == {
        "id": manager,
        "email": "m@example.com",
        "role": "manager",
        "cities": [1, 2],
    }
    claims = _claims(body["token"])
    assert (claims["id"], claims["role"], claims["cities"]) == (manager, "manager", [1, 2])
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600  # type: ignore[operator]
    refused = {"error": "Invalid email or password"}
    for credentials in (
        {"email": "m@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": "staff password"},
    ):
        response = await http.post("/api/auth/admin/login", json=credentials)
        assert (response.status_code, response.json()) == (401, refused)
    # A customer account with a password is no staff account.
    await http.post("/reg", json={"email": "cook@example.com", "password": "correct horse"})
    response = await http.post(
        "/api/auth/admin/login", json={"email": "cook@example.com", "password": "correct horse"}
    )
    assert response.status_code == 401


async def test_every_route_wants_a_valid_token(http: httpx.AsyncClient) -> None:
    routes = [
        ("POST", "/api/orders/calculate"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders"),
        ("GET", "/api/orders/1"),
        ("GET", "/api/bonuses/balance"),
        ("GET", "/api/bonuses/history"),
        ("GET", "/api/orders/admin/all"),
        ("PUT", "/api/orders/admin/1/status"),
    ]
    refresh_token = (
        await http.post("/reg", json={"email": "a@b.co", "password": "correct horse"})
    ).json()
    for headers in ({}, _bearer("junk"), _bearer(refresh_token["tokens"]["refresh_token"])):
        for method, path in routes:
            response = await http.request(method, path, headers=headers, json={})
            assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"}), path


async def test_staff_routes_refuse_customers(http: httpx.AsyncClient) -> None:
    token, _ = await customer(http, 10)
    for method, path in (("GET", "/api/orders/admin/all"), ("PUT", "/api/orders/admin/1/status")):
        response = await http.request(
            method, path, headers=_bearer(token), json={"status": "ready"}
        )
        assert (response.status_code, response.json()) == (403, {"error": "Forbidden"})


async def test_bad_orders_are_refused_and_change_nothing(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    token, user = await customer(http, 11)
    grant_bonuses(config.storage.path, user["id"], 100)
    bad = [
        ({"city_id": 1}, "Invalid order: Object missing required field `order_type`"),
        (order_body(city_id="one"), "Invalid order: Expected `int`, got `str` - at `$.city_id`"),
        (order_body(items=[]), "Invalid order: Expected `array` of length >= 1 - at `$.items`"),
        (
            order_body(items=[{"item_id": 1, "quantity": 0}]),
            "Invalid order: Expected `int` >= 1 - at `$.items[0].quantity`",
        ),
        (
            order_body(order_type="drone"),
            "Invalid order: Invalid enum value 'drone' - at `$.order_type`",
        ),
        (order_body(city_id=99), "Unknown city_id 99"),
        (
            order_body(items=[{"item_id": 7, "quantity": 1}], city_id=2, delivery_street="x"),
            "Item 7 is not sold in this city",
        ),
        (order_body(bonus_to_use=101), "Insufficient bonus balance. Available: 100"),
        (order_body(bonus_to_use=-5), "Invalid order: Expected `int` >= 0 - at `$.bonus_to_use`"),
        (
            order_body(items=[{"item_id": 6, "quantity": 1}], bonus_to_use=30),
            "Maximum 22 bonuses can be used for this order",
        ),
        (
            order_body(order_type="pickup"),
            "branch_id must name a branch of the order's city for pickup",
        ),
        (
            order_body(delivery_house=None),
            "delivery_street and delivery_house are required for delivery",
        ),
    ]
    for body, message in bad:
        for path in ("/api/orders/calculate", "/api/orders"):
            response = await http.post(path, json=body, headers=_bearer(token))
            assert (response.status_code, response.json()) == (400, {"error": message}), body
    for raw in (b"{", b"[]", b"null", b'{"city_id": NaN}'):
        response = await http.post(
            "/api/orders",
            content=raw,
            headers={**_bearer(token), "content-type": "application/json"},
        )
        assert response.status_code == 400
    assert (await http.get("/api/orders", headers=_bearer(token))).json() == {"orders": []}
    assert (await http.get("/api/bonuses/balance", headers=_bearer(token))).json() == {
        "balance": 100
    }
    calculated = await http.post(
        "/api/orders/calculate", json=order_body(bonus_to_use=100), headers=_bearer(token)
    )
    assert calculated.json() == {
        "subtotal": 1070,
        "delivery_cost": 199,
        "bonus_used": 100,
        "total": 1169,
        "bonuses_to_earn": 35,
        "items": [
            {
                "item_id": 1,
                "name": "Гуляш",
                "quantity": 2,
                "price": 490,
                "total": 980,
                "modifiers": [{"id": 1, "name": "Сметана", "price": 40}],
            },
            {"item_id": 6, "name": "Чай", "quantity": 1, "price": 90, "total": 90, "modifiers": []},
        ],
    }


# 100 rounds took 24 s here: a REST order costs about 5 ms of the one event
# loop that both the server and this client run on (the socket races run 100 rounds).
ROUNDS = 30
AT_ONCE = 2  # rounds run side by side (each its own customer)


@pytest.mark.settings(orders={"pos_mode": "off"})
async def test_concurrent_orders_cannot_overspend_bonuses(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    """50 orders at once, each using 200 bonuses of a balance of 250, repeated for 30
    customers (two at a time): every time exactly one is placed (201) and 49 are 400
    `Insufficient bonus balance` (of what that one left); the balance is what that one
    order left, and every balance still equals its ledger."""
    outcomes: list[tuple[list[int], set[str], int]] = []

    async def one_round(telegram_id: int, limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            token, user = await customer(http, telegram_id)
            await trio.to_thread.run_sync(grant_bonuses, config.storage.path, user["id"], 250)
            answers: list[httpx.Response] = []

            async def order() -> None:
                body = order_body(bonus_to_use=200)
                answers.append(await http.post("/api/orders", json=body, headers=_bearer(token)))

            async with trio.open_nursery() as nursery:
                for _ in range(50):
                    nursery.start_soon(order)
            balance = await http.get("/api/bonuses/balance", headers=_bearer(token))
        refusals = {a.json()["error"] for a in answers if a.status_code != 201}
        outcomes.append(
            (sorted(a.status_code for a in answers), refusals, balance.json()["balance"])
        )

    limiter = trio.CapacityLimiter(AT_ONCE)
    async with trio.open_nursery() as nursery:
        for round_number in range(ROUNDS):
            nursery.start_soon(one_round, 12_000 + round_number, limiter)
    left = 250 - 200 + 32  # the one order earned floor(3% of 1070 + 199 - 200)
    placed_one = ([201] + [400] * 49, {f"Insufficient bonus balance. Available: {left}"}, left)
    assert outcomes == [placed_one] * ROUNDS
    assert ledger_matches(config.storage.path)


async def test_own_orders_only(http: httpx.AsyncClient) -> None:
    alice, _ = await customer(http, 13)
    bob, _ = await customer(http, 14)
    placed = (await http.post("/api/orders", json=order_body(), headers=_bearer(alice))).json()[
        "order"
    ]
    own = await http.get(f"/api/orders/{placed['id']}", headers=_bearer(alice))
    assert own.json() == {"order": placed}
    # Text goes out as UTF-8, not escaped to ASCII (which takes three times the bytes).
    assert '"delivery_street":"Тверская"' in own.text
    response = await http.get(f"/api/orders/{placed['id']}", headers=_bearer(bob))
    assert (response.status_code, response.json()) == (404, {"error": "Order not found"})
    assert (await http.get("/api/orders", headers=_bearer(bob))).json() == {"orders": []}
    assert (await http.get("/api/orders?limit=0", headers=_bearer(alice))).status_code == 400


async def test_the_last_free_order_number_of_a_day_is_found_and_then_none_is(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    """A day with one order number left takes an order under it (ten random tries would
    nearly never find it); a day with none refuses the next order and stores nothing."""
    token, _ = await customer(http, 16)
    first = (await http.post("/api/orders", json=order_body(), headers=_bearer(token))).json()
    left = "5000" if first["order"]["order_number"] != "5000" else "5001"
    with closing(sqlite3.connect(config.storage.path)) as connection, connection:
        columns = ", ".join(
            name
            for _, name, *_ in connection.execute("PRAGMA table_info(orders)")
            if name not in ("id", "order_number")
        )
        connection.execute(  # copies of the first order under every other number of its day
            "WITH RECURSIVE n (k) AS (SELECT 1000 UNION ALL SELECT k + 1 FROM n WHERE k < 9999)"
            f" INSERT INTO orders (order_number, {columns})"
            f" SELECT CAST(k AS TEXT), {columns} FROM n, orders"
            " WHERE orders.id = ? AND CAST(k AS TEXT) NOT IN (orders.order_number, ?)",
            (first["order"]["id"], left),
        )
    last = await http.post("/api/orders", json=order_body(), headers=_bearer(token))
    assert last.status_code == 201
    assert last.json()["order"]["order_number"] == left
    balance = (await http.get("/api/bonuses/balance", headers=_bearer(token))).json()
    refused = await http.post("/api/orders", json=order_body(), headers=_bearer(token))
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "No order number is free today; try again later"},
    )
    assert (await http.get("/api/bonuses/balance", headers=_bearer(token))).json() == balance
    with closing(sqlite3.connect(config.storage.path)) as connection:
        days = connection.execute("SELECT order_day, count(*) FROM orders GROUP BY 1").fetchall()
    assert days == [(first["order"]["created_at"][:10], 9000)]


async def test_staff_lists_and_status_changes(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    database = config.storage.path
    token, user = await customer(http, 15)
    grant_bonuses(database, user["id"], 100)
    make_staff(database, "admin@example.com", "admin")
    make_staff(database, "m2@example.com", "manager", (2,))
    admin = await staff_token(http, "admin@example.com")
    manager = await staff_token(http, "m2@example.com")
    in_moscow = (
        await http.post("/api/orders", json=order_body(bonus_to_use=100), headers=_bearer(token))
    ).json()["order"]
    kazan = order_body(city_id=2, items=[{"item_id": 2, "quantity": 2}])
    in_kazan = (await http.post("/api/orders", json=kazan, headers=_bearer(token))).json()["order"]

    def ids(response: httpx.Response) -> list[int]:
        return [order["id"] for order in response.json()["orders"]]

    assert ids(await http.get("/api/orders/admin/all", headers=_bearer(admin))) == [
        in_kazan["id"],
        in_moscow["id"],
    ]
    assert ids(await http.get("/api/orders/admin/all?city_id=1", headers=_bearer(admin))) == [
        in_moscow["id"]
    ]
    assert ids(await http.get("/api/orders/admin/all", headers=_bearer(manager))) == [
        in_kazan["id"]
    ]
    today = in_moscow["created_at"][:10]
    dated = f"/api/orders/admin/all?date_from={today}&date_to={today}&status=pending"
    assert ids(await http.get(dated, headers=_bearer(admin))) == [in_kazan["id"], in_moscow["id"]]
    assert (
        ids(await http.get("/api/orders/admin/all?date_to=2000-01-01", headers=_bearer(admin)))
        == []
    )
    for query in ("city_id=1",):
        response = await http.get(f"/api/orders/admin/all?{query}", headers=_bearer(manager))
        assert (response.status_code, response.json()) == (403, {"error": "Forbidden"})
    for query in ("status=lost", "date_from=yesterday", "limit=1000"):
        assert (
            await http.get(f"/api/orders/admin/all?{query}", headers=_bearer(admin))
        ).status_code == 400

    async def move(order_id: int, status: object, who: str) -> httpx.Response:
        return await http.put(
            f"/api/orders/admin/{order_id}/status", json={"status": status}, headers=_bearer(who)
        )

    statuses = "pending, confirmed, preparing, ready, delivering, completed, cancelled"
    bad_status = {"error": f"status must be one of: {statuses}"}
    for status in ("lost", None, 5):
        response = await move(in_moscow["id"], status, admin)
        assert (response.status_code, response.json()) == (400, bad_status)
    response = await move(999, "ready", admin)
    assert (response.status_code, response.json()) == (404, {"error": "Order not found"})
    response = await move(in_moscow["id"], "ready", manager)  # not the manager's city
    assert (response.status_code, response.json()) == (403, {"error": "Forbidden"})
    assert (await move(in_kazan["id"], "ready", manager)).json()["order"]["status"] == "ready"

    # Cancelling gives back the bonuses used and takes back those earned.
    before = (await http.get("/api/bonuses/balance", headers=_bearer(token))).json()["balance"]
    assert before == 100 - 100 + in_moscow["bonuses_earned"] + in_kazan["bonuses_earned"]
    assert (await move(in_moscow["id"], "cancelled", admin)).json()["order"][
        "status"
    ] == "cancelled"
    after = (await http.get("/api/bonuses/balance", headers=_bearer(token))).json()["balance"]
    assert after == before + 100 - in_moscow["bonuses_earned"]
    response = await move(in_moscow["id"], "pending", admin)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "A cancelled order cannot change its status"},
    )
    assert ledger_matches(database)


async def test_create_staff_command(config: settings.Settings, tmp_path: Path) -> None:
    await seed_database(config)
    secrets = "".join(f'{key} = "{value}"\n' for key, value in TEST_SECRETS.items())
    config_file = trio.Path(tmp_path / "staff.toml")
    await config_file.write_text(
        f'[storage]\npath = "{config.storage.path}"\n[accounts]\nbcrypt_cost = 4\n'
        f"[secrets]\n{secrets}"
    )
    command = [
        sys.executable,
        "-m",
        "scripts.create_staff",
        "--email",
        "boss@example.com",
        "--password",
        "long enough secret",
        "--config",
        str(config_file),
        "--role",
        "manager",
    ]
    result = await trio.run_process([*command, "--cities", "1,2"], cwd=ROOT, capture_stdout=True)
    assert b"staff account" in result.stdout
    with sqlite3.connect(config.storage.path) as connection:
        role = connection.execute(
            "SELECT role FROM users WHERE email = 'boss@example.com'"
        ).fetchone()
        cities = connection.execute("SELECT city_id FROM staff_cities ORDER BY city_id").fetchall()
    assert (role, cities) == (("manager",), [(1,), (2,)])
    refused = await trio.run_process(command, cwd=ROOT, capture_stderr=True, check=False)
    assert refused.returncode == 2 and b"a manager needs --cities" in refused.stderr
