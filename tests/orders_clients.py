"""Test clients for the orders app: Telegram customers, staff, the `/?token=` socket."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any

import bcrypt
import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

BOT_TOKEN = "123456:test-bot-token"
RECEIVE_TIMEOUT = 10.0


def telegram_fields(
    telegram_id: int,
    first_name: str = "Ivan",
    *,
    auth_date: int | None = None,
    bot_token: str = BOT_TOKEN,
    **more: Any,
) -> dict[str, Any]:
    """Login-widget fields signed as Telegram signs them (with `more` fields)."""
    fields: dict[str, Any] = {
        "id": telegram_id,
        "first_name": first_name,
        "username": f"user{telegram_id}",
        "auth_date": auth_date if auth_date is not None else int(time.time()),
        **more,
    }
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hashlib.sha256(bot_token.encode()).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return fields


async def customer(http: httpx.AsyncClient, telegram_id: int) -> tuple[str, dict[str, Any]]:
    """A Telegram customer's token and user."""
    response = await http.post("/api/auth/telegram", json=telegram_fields(telegram_id))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["token"], body["user"]


def make_staff(database: str, email: str, role: str, cities: tuple[int, ...] = ()) -> int:
    hashed = bcrypt.hashpw(b"staff password", bcrypt.gensalt(4)).decode()
    with closing(sqlite3.connect(database)) as connection, connection:
        user_id: int = connection.execute(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, 0)"
            " RETURNING id",
            (email, hashed, role),
        ).fetchone()[0]
        connection.executemany(
            "INSERT INTO staff_cities (user_id, city_id) VALUES (?, ?)",
            [(user_id, city) for city in cities],
        )
    return user_id


async def staff_token(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post(
        "/api/auth/admin/login", json={"email": email, "password": "staff password"}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def grant_bonuses(database: str, user_id: int, amount: int) -> None:
    """Credit bonuses as the ledger would (balance and ledger stay equal)."""
    with closing(sqlite3.connect(database)) as connection, connection:
        balance = connection.execute(
            "INSERT INTO bonus_accounts (user_id, balance) VALUES (?, ?) ON CONFLICT (user_id)"
            " DO UPDATE SET balance = balance + excluded.balance RETURNING balance",
            (user_id, amount),
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO bonus_ledger (user_id, type, amount, balance_after, created_at)"
            " VALUES (?, 'earned', ?, ?, '2024-01-01T00:00:00.000Z')",
            (user_id, amount, balance),
        )


def ledger_matches(database: str) -> bool:
    """Every balance equals the sum of its ledger, and none is negative."""
    with closing(sqlite3.connect(database)) as connection, connection:
        rows = connection.execute(
            "SELECT a.balance, coalesce(sum(CASE WHEN l.type IN ('earned', 'refunded')"
            " THEN l.amount ELSE -l.amount END), 0) FROM bonus_accounts AS a"
            " LEFT JOIN bonus_ledger AS l ON l.user_id = a.user_id GROUP BY a.user_id"
        ).fetchall()
    return all(balance == total and balance >= 0 for balance, total in rows)


def order_body(**changes: Any) -> dict[str, Any]:
    """A delivery order in city 1: 2 goulash with sour cream (2 x 490) and a tea (90)."""
    body: dict[str, Any] = {
        "city_id": 1,
        "order_type": "delivery",
        "items": [
            {"item_id": 1, "quantity": 2, "modifiers": [1]},
            {"item_id": 6, "quantity": 1},
        ],
        "payment_method": "card",
        "delivery_street": "Тверская",
        "delivery_house": "7",
    }
    body.update(changes)
    return body


class OrdersSocket:
    """`patience`: seconds a receive waits before the test fails (virtual on a mock clock)."""

    def __init__(self, socket: WebSocketConnection, patience: float) -> None:
        self.socket = socket
        self.patience = patience

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.socket.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(self.patience):
            frame: dict[str, Any] = json.loads(await self.socket.get_message())
        return frame

    async def expect(self, event: str) -> Any:
        """The data of the next frame, which must be `event`."""
        frame = await self.receive()
        assert frame["type"] == event, frame
        return frame.get("data")

    async def silent(self, seconds: float = 0.3) -> None:
        with trio.move_on_after(seconds):
            frame = await self.socket.get_message()
            raise AssertionError(f"unexpected frame {frame!r}")


@asynccontextmanager
async def orders_socket(
    port: int, token: str, patience: float = RECEIVE_TIMEOUT
) -> AsyncIterator[OrdersSocket]:
    """Connected and greeted (`connected` already read)."""
    async with open_websocket_url(f"ws://127.0.0.1:{port}/?token={token}") as socket:
        client = OrdersSocket(socket, patience)
        await client.expect("connected")
        yield client
