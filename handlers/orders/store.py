"""The orders app's tables: people, orders, the bonus ledger and POS sync jobs.

Every function takes the connection of the transaction it runs in (see
storage.Database). Invariants: a bonus balance is never negative and always
equals the sum of its ledger (debits are one conditional UPDATE in the same
transaction as their ledger row and the order); order numbers are unique
within a UTC day.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import msgspec

from handlers.orders.pricing import OrderProblem, OrderRequest, Quote
from handlers.timestamps import now_iso

Status = Literal[
    "pending", "confirmed", "preparing", "ready", "delivering", "completed", "cancelled"
]
STATUSES: tuple[str, ...] = get_args(Status)
STAFF_ROLES = ("admin", "ceo", "manager")
# Random order numbers tried before one is picked among those still free today.
RANDOM_TRIES = 10
_ORDER_COLUMNS = (
    "id, order_number, user_id, city_id, branch_id, order_type, payment_method,"
    " delivery_street, delivery_house, comment, desired_time, change_from, subtotal,"
    " delivery_cost, bonus_used, total, bonuses_earned, status, pos_id, created_at, updated_at"
)
_ORDER_FIELDS = [name.strip() for name in _ORDER_COLUMNS.split(",")]


# -- people -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    role: str  # user, manager, admin, ceo
    cities: tuple[int, ...]  # a manager's cities
    email: str | None

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "ceo")

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role, "cities": list(self.cities)}


def person(connection: sqlite3.Connection, user_id: int) -> Person | None:
    row = connection.execute("SELECT role, email FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        return None
    cities = tuple(
        city
        for (city,) in connection.execute(
            "SELECT city_id FROM staff_cities WHERE user_id = ? ORDER BY city_id", (user_id,)
        )
    )
    return Person(user_id, row[0], cities, row[1])


def telegram_customer(
    connection: sqlite3.Connection, fields: dict[str, Any], now: int
) -> dict[str, Any]:
    """The customer with this Telegram id (created on first login), as the login answers it."""
    telegram_id = int(fields["id"])
    row = connection.execute(
        "SELECT user_id FROM telegram_accounts WHERE telegram_id = ?", (telegram_id,)
    ).fetchone()
    if row is None:
        user_id = connection.execute("INSERT INTO users (created_at) VALUES (?)", (now,)).lastrowid
    else:
        user_id = row[0]
    names = {
        key: str(fields.get(key) or "")
        for key in ("first_name", "last_name", "username", "photo_url")
    }
    connection.execute(
        "INSERT INTO telegram_accounts"
        " (telegram_id, user_id, first_name, last_name, username, photo_url)"
        " VALUES (:telegram_id, :user_id, :first_name, :last_name, :username, :photo_url)"
        " ON CONFLICT (telegram_id) DO UPDATE SET first_name = excluded.first_name,"
        " last_name = excluded.last_name, username = excluded.username,"
        " photo_url = excluded.photo_url",
        {"telegram_id": telegram_id, "user_id": user_id, **names},
    )
    return {"id": user_id, "telegram_id": telegram_id, "role": "user", **names}


def make_staff(
    connection: sqlite3.Connection,
    email: str,
    password_hash: str,
    role: str,
    cities: Sequence[int],
    now: int,
) -> int:
    """Create a staff account, or update the one with this email; returns its id."""
    user_id: int = connection.execute(
        "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash,"
        " role = excluded.role RETURNING id",
        (email, password_hash, role, now),
    ).fetchone()[0]
    connection.execute("DELETE FROM staff_cities WHERE user_id = ?", (user_id,))
    connection.executemany(
        "INSERT INTO staff_cities (user_id, city_id) VALUES (?, ?)",
        [(user_id, city) for city in cities],
    )
    return user_id


# -- bonuses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BonusChange:
    type: str  # used, earned, refunded, revoked
    amount: int
    balance: int  # after the change
    order_id: int


def balance(connection: sqlite3.Connection, user_id: int) -> int:
    row = connection.execute(
        "SELECT balance FROM bonus_accounts WHERE user_id = ?", (user_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def history(
    connection: sqlite3.Connection, user_id: int, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = connection.execute(
        "SELECT id, order_id, type, amount, balance_after, created_at FROM bonus_ledger"
        " WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
        (user_id, limit, offset),
    ).fetchall()
    return [
        dict(
            zip(
                ("id", "order_id", "type", "amount", "balance_after", "created_at"),
                row,
                strict=True,
            )
        )
        for row in rows
    ]


def _change_balance(
    connection: sqlite3.Connection, user_id: int, order_id: int, kind: str, amount: int, at: str
) -> BonusChange:
    """Credit (earned, refunded) or debit (used, revoked) `amount`, with its ledger row.

    A debit larger than the balance changes nothing and raises OrderProblem.
    """
    if kind in ("earned", "refunded"):
        row = connection.execute(
            "INSERT INTO bonus_accounts (user_id, balance) VALUES (?, ?) ON CONFLICT (user_id)"
            " DO UPDATE SET balance = balance + excluded.balance RETURNING balance",
            (user_id, amount),
        ).fetchone()
    else:
        row = connection.execute(
            "UPDATE bonus_accounts SET balance = balance - ? WHERE user_id = ? AND balance >= ?"
            " RETURNING balance",
            (amount, user_id, amount),
        ).fetchone()
        if row is None:
            available = balance(connection, user_id)
            raise OrderProblem(f"Insufficient bonus balance. Available: {available}")
    connection.execute(
        "INSERT INTO bonus_ledger (user_id, order_id, type, amount, balance_after, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, order_id, kind, amount, row[0], at),
    )
    return BonusChange(kind, amount, int(row[0]), order_id)


# -- orders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    order: dict[str, Any]
    bonus_changes: list[BonusChange]


def create_order(
    connection: sqlite3.Connection,
    user_id: int,
    request: OrderRequest,
    quote: Quote,
    *,
    sync_at: float | None,
) -> Created:
    """Store a new order, spend and earn its bonuses, and queue its POS sync (at `sync_at`)."""
    at = now_iso()
    day = at[:10]
    values = (
        user_id,
        request.city_id,
        request.branch_id if request.order_type == "pickup" else None,
        request.order_type,
        request.payment_method,
        request.delivery_street if request.order_type == "delivery" else None,
        request.delivery_house if request.order_type == "delivery" else None,
        request.comment,
        request.desired_time,
        request.change_from,
        quote.subtotal,
        quote.delivery_cost,
        quote.bonus_used,
        quote.total,
        quote.bonuses_to_earn,
        at,
        at,
    )
    order_id = _insert_numbered(connection, day, values)
    connection.executemany(
        "INSERT INTO order_items (order_id, line, item_id, name, quantity, unit_price, modifiers)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                order_id,
                index,
                line.item_id,
                line.name,
                line.quantity,
                line.unit_price,
                json.dumps(line.modifiers, ensure_ascii=False),
            )
            for index, line in enumerate(quote.lines)
        ],
    )
    changes = []
    if quote.bonus_used:
        changes.append(_change_balance(connection, user_id, order_id, "used", quote.bonus_used, at))
    if quote.bonuses_to_earn:
        changes.append(
            _change_balance(connection, user_id, order_id, "earned", quote.bonuses_to_earn, at)
        )
    if sync_at is not None:
        connection.execute(
            "INSERT INTO sync_jobs (order_id, next_attempt_at) VALUES (?, ?)", (order_id, sync_at)
        )
    order = orders(connection, Filter(id=order_id))[0]
    return Created(order, changes)


def _insert_numbered(connection: sqlite3.Connection, day: str, values: tuple[Any, ...]) -> int:
    """Insert the order under a random 4-digit number not yet used today.

    Random numbers first: nearly every day has most of its numbers free. After
    `RANDOM_TRIES` taken ones, one of those still free, found in the day's index: so
    orders are refused only once all 9,000 numbers of the day are used (random tries
    alone, 100 of them, refused about one order in 170 with 95% used).
    """
    for _ in range(RANDOM_TRIES):
        order_id = _insert_as(connection, f"{1000 + secrets.randbelow(9000)}", day, values)
        if order_id is not None:
            return order_id
    taken = {
        number
        for (number,) in connection.execute(
            "SELECT order_number FROM orders WHERE order_day = ?", (day,)
        )
    }
    free = [str(number) for number in range(1000, 10000) if str(number) not in taken]
    # The writer's transaction holds the write lock: no number is taken meanwhile.
    order_id = _insert_as(connection, secrets.choice(free), day, values) if free else None
    if order_id is None:
        raise OrderProblem("No order number is free today; try again later")
    return order_id


def _insert_as(
    connection: sqlite3.Connection, number: str, day: str, values: tuple[Any, ...]
) -> int | None:
    """The new order's id, or None when `number` is taken today."""
    try:
        cursor = connection.execute(
            "INSERT INTO orders (order_number, order_day, user_id, city_id, branch_id,"
            " order_type, payment_method, delivery_street, delivery_house, comment,"
            " desired_time, change_from, subtotal, delivery_cost, bonus_used, total,"
            " bonuses_earned, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (number, day, *values),
        )
    except sqlite3.IntegrityError as error:
        if "order_number" not in str(error):
            raise
        return None
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@dataclass(frozen=True)
class Filter:
    """Which orders: every field given must match (`cities`: any of them)."""

    id: int | None = None
    user_id: int | None = None
    cities: tuple[int, ...] | None = None
    city_id: int | None = None
    status: str | None = None
    created_from: str | None = None  # ISO date or time, inclusive
    created_to: str | None = None  # ISO date or time, inclusive (a date covers its whole day)

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        parameters: list[Any] = []
        equal = (
            ("id", self.id),
            ("user_id", self.user_id),
            ("city_id", self.city_id),
            ("status", self.status),
        )
        for column, value in equal:
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        if self.cities is not None:
            clauses.append(f"city_id IN ({', '.join('?' * len(self.cities)) or 'NULL'})")
            parameters.extend(self.cities)
        if self.created_from is not None:
            clauses.append("created_at >= ?")
            parameters.append(self.created_from)
        if self.created_to is not None:
            # A bare date covers its whole day: compare with the day's last instant.
            whole_day = len(self.created_to) == 10
            clauses.append("created_at <= ?")
            parameters.append(self.created_to + "T23:59:59.999Z" if whole_day else self.created_to)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


@dataclass(frozen=True)
class Page:
    limit: int = 50
    offset: int = 0


def orders(
    connection: sqlite3.Connection, where: Filter, page: Page = Page()
) -> list[dict[str, Any]]:
    """Orders (with their items) matching `where`, newest first."""
    condition, parameters = where.sql()
    rows = connection.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders {condition} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*parameters, page.limit, page.offset),
    ).fetchall()
    found = [dict(zip(_ORDER_FIELDS, row, strict=True)) for row in rows]
    if not found:
        return found
    lines: dict[int, list[dict[str, Any]]] = {order["id"]: [] for order in found}
    marks = ", ".join("?" * len(found))
    for order_id, item_id, name, quantity, unit_price, modifiers in connection.execute(
        "SELECT order_id, item_id, name, quantity, unit_price, modifiers FROM order_items"
        f" WHERE order_id IN ({marks}) ORDER BY order_id, line",
        list(lines),
    ):
        lines[order_id].append(
            {
                "item_id": item_id,
                "name": name,
                "quantity": quantity,
                "price": unit_price,
                "modifiers": msgspec.json.decode(modifiers),
                "total": unit_price * quantity,
            }
        )
    for order in found:
        order["items"] = lines[order["id"]]
    return found


@dataclass(frozen=True)
class StatusChange:
    order: dict[str, Any]
    old_status: str
    bonus_changes: list[BonusChange]


def change_status(
    connection: sqlite3.Connection,
    order_id: int,
    status: str,
    allowed_cities: tuple[int, ...] | None,
) -> StatusChange | None:
    """Set an order's status; None when there is no such order.

    `allowed_cities` None means any city. Cancelling gives back the bonuses the
    order used and takes back those it earned (as far as the balance allows).
    Raises OrderProblem for a cancelled order and PermissionError outside the cities.
    """
    row = connection.execute(
        "SELECT status, city_id, user_id, bonus_used, bonuses_earned FROM orders WHERE id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    old, city_id, user_id, used, earned = row
    if allowed_cities is not None and city_id not in allowed_cities:
        raise PermissionError(order_id)
    if old == "cancelled" and status != "cancelled":
        raise OrderProblem("A cancelled order cannot change its status")
    at = now_iso()
    changes = []
    if status != old:
        connection.execute(
            "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", (status, at, order_id)
        )
        if status == "cancelled":
            if used:
                changes.append(_change_balance(connection, user_id, order_id, "refunded", used, at))
            take_back = min(earned, balance(connection, user_id))
            if take_back:
                changes.append(
                    _change_balance(connection, user_id, order_id, "revoked", take_back, at)
                )
    order = orders(connection, Filter(id=order_id))[0]
    return StatusChange(order, old, changes)


# -- POS sync jobs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    id: int
    order_id: int
    city_id: int
    attempts: int


def due_jobs(
    connection: sqlite3.Connection, now: float, limit: int
) -> tuple[list[Job], float | None]:
    """Pending jobs due by `now` (oldest first), and when the next later one is due."""
    jobs = [
        Job(*row)
        for row in connection.execute(
            "SELECT j.id, j.order_id, o.city_id, j.attempts FROM sync_jobs AS j"
            " JOIN orders AS o ON o.id = j.order_id"
            " WHERE j.state = 'pending' AND j.next_attempt_at <= ?"
            " ORDER BY j.next_attempt_at LIMIT ?",
            (now, limit),
        )
    ]
    later = connection.execute(
        "SELECT min(next_attempt_at) FROM sync_jobs"
        " WHERE state = 'pending' AND next_attempt_at > ?",
        (now,),
    ).fetchone()[0]
    return jobs, later


def job_failed(
    connection: sqlite3.Connection, job_id: int, error: str, retry_at: float | None
) -> None:
    """Count a failed attempt; `retry_at` None gives the job up."""
    connection.execute(
        "UPDATE sync_jobs SET attempts = attempts + 1, last_error = ?,"
        " state = CASE WHEN ? IS NULL THEN 'failed' ELSE 'pending' END,"
        " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
        (error[:500], retry_at, retry_at, job_id),
    )


def job_done(connection: sqlite3.Connection, job: Job, pos_id: str) -> None:
    connection.execute(
        "UPDATE sync_jobs SET attempts = attempts + 1, state = 'done', last_error = NULL"
        " WHERE id = ?",
        (job.id,),
    )
    connection.execute(
        "UPDATE orders SET pos_id = ?, updated_at = ? WHERE id = ?",
        (pos_id, now_iso(), job.order_id),
    )
