"""The seed's flows: who hears about an order, a status change and a POS sync, with what."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

import settings
from tests.orders_clients import (
    customer,
    grant_bonuses,
    ledger_matches,
    make_staff,
    order_body,
    orders_socket,
    staff_token,
)


async def test_an_order_with_bonuses_reaches_exactly_its_people(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    database = config.storage.path
    token, user = await customer(http, 1001)
    grant_bonuses(database, user["id"], 300)
    make_staff(database, "admin@example.com", "admin")
    make_staff(database, "m1@example.com", "manager", (1,))
    make_staff(database, "m2@example.com", "manager", (2,))
    admin_token = await staff_token(http, "admin@example.com")
    async with (
        orders_socket(ws_port, token) as client,
        orders_socket(ws_port, admin_token) as admin,
        orders_socket(ws_port, await staff_token(http, "m1@example.com")) as manager_one,
        orders_socket(ws_port, await staff_token(http, "m2@example.com")) as manager_two,
    ):
        # 2 x (450 + 40) + 90 = 1070; delivery 199 (free only from 1500); at most
        # floor(25% of 1070) = 267 bonuses: use 200. Total 1069; earns floor(3%) = 32.
        response = await http.post(
            "/api/orders",
            json=order_body(bonus_to_use=200),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        order = created["order"]
        assert created["bonuses_earned"] == 32
        assert (order["subtotal"], order["delivery_cost"], order["bonus_used"]) == (1070, 199, 200)
        assert (order["total"], order["bonuses_earned"], order["status"]) == (1069, 32, "pending")
        assert order["user_id"] == user["id"] and order["city_id"] == 1
        assert len(order["order_number"]) == 4 and order["order_number"].isdigit()
        assert [
            (line["item_id"], line["quantity"], line["price"], line["total"])
            for line in order["items"]
        ] == [
            (1, 2, 490, 980),
            (6, 1, 90, 90),
        ]

        used = await client.expect("bonus-updated")
        assert used["balance"] == 100
        assert used["operation"] == {"type": "used", "amount": 200, "orderId": order["id"]}
        earned = await client.expect("bonus-updated")
        assert earned["balance"] == 132
        assert earned["operation"] == {"type": "earned", "amount": 32, "orderId": order["id"]}
        assert earned["timestamp"].endswith("Z")
        assert await client.expect("order-created") == order
        assert await admin.expect("new-order") == order
        assert await manager_one.expect("new-order") == order

        # The mock POS succeeds: admins and the city's managers hear of it.
        for watcher in (admin, manager_one):
            synced = await watcher.expect("sync-success")
            assert (synced["entity"], synced["entityId"]) == ("order", order["id"])
        await manager_two.silent()
        await client.silent(0.1)

        # A status change reaches the customer, admin-orders and the city room.
        moved = await http.put(
            f"/api/orders/admin/{order['id']}/status",
            json={"status": "preparing"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert moved.status_code == 200
        assert moved.json()["order"]["status"] == "preparing"
        for watcher in (client, admin, manager_one):
            change = await watcher.expect("order-status-updated")
            assert (change["orderId"], change["newStatus"], change["oldStatus"]) == (
                order["id"],
                "preparing",
                "pending",
            )
        await manager_two.silent()

    stored = await http.get(
        f"/api/orders/{order['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert stored.json()["order"]["pos_id"].startswith("MOCK-")
    balance = await http.get("/api/bonuses/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.json() == {"balance": 132}
    history = await http.get("/api/bonuses/history", headers={"Authorization": f"Bearer {token}"})
    assert [
        (row["type"], row["amount"], row["balance_after"]) for row in history.json()["history"]
    ] == [
        ("earned", 32, 132),
        ("used", 200, 100),
        ("earned", 300, 300),
    ]
    assert ledger_matches(database)


@pytest.mark.settings(orders={"pos_mode": "off"})
async def test_no_sync_when_the_pos_is_off(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    token, _ = await customer(http, 1002)
    make_staff(config.storage.path, "admin@example.com", "admin")
    async with orders_socket(ws_port, await staff_token(http, "admin@example.com")) as admin:
        placed = await http.post(
            "/api/orders", json=order_body(), headers={"Authorization": f"Bearer {token}"}
        )
        assert placed.status_code == 201
        await admin.expect("new-order")
        await admin.silent(0.5)
    with sqlite3.connect(config.storage.path) as connection:
        assert connection.execute("SELECT count(*) FROM sync_jobs").fetchone() == (0,)
