"""The orders app's catalogue: cities, branches, menu items with per-city prices, modifiers.

Loaded once at startup (`load`); the seeding command writes it (`replace`).
Invariant: a `Menu` is never mutated while the server runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class City:
    id: int
    name: str
    delivery_cost: int
    free_delivery_from: int | None


@dataclass(frozen=True)
class Branch:
    id: int
    city_id: int
    name: str
    address: str


@dataclass(frozen=True)
class Modifier:
    id: int
    name: str
    price: int


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    category: str
    prices: Mapping[int, int]  # city id -> price; absent: not sold there
    modifiers: frozenset[int]  # the modifier ids this item accepts


@dataclass(frozen=True)
class Menu:
    cities: Mapping[int, City]
    branches: Mapping[int, Branch]
    items: Mapping[int, Item]
    modifiers: Mapping[int, Modifier]


def load(connection: sqlite3.Connection) -> Menu:
    prices: dict[int, dict[int, int]] = {}
    for item_id, city_id, price in connection.execute(
        "SELECT item_id, city_id, price FROM menu_prices"
    ):
        prices.setdefault(item_id, {})[city_id] = price
    accepted: dict[int, set[int]] = {}
    for item_id, modifier_id in connection.execute(
        "SELECT item_id, modifier_id FROM item_modifiers"
    ):
        accepted.setdefault(item_id, set()).add(modifier_id)
    return Menu(
        cities={
            row[0]: City(*row)
            for row in connection.execute(
                "SELECT id, name, delivery_cost, free_delivery_from FROM cities"
            )
        },
        branches={
            row[0]: Branch(*row)
            for row in connection.execute("SELECT id, city_id, name, address FROM branches")
        },
        items={
            item_id: Item(
                item_id,
                name,
                category,
                prices.get(item_id, {}),
                frozenset(accepted.get(item_id, ())),
            )
            for item_id, name, category in connection.execute(
                "SELECT id, name, category FROM menu_items"
            )
        },
        modifiers={
            row[0]: Modifier(*row)
            for row in connection.execute("SELECT id, name, price FROM modifiers")
        },
    )


def replace(connection: sqlite3.Connection, catalogue: Mapping[str, Any]) -> None:
    """Write the catalogue (scripts/catalogues/orders.json's shape); running it again changes
    nothing. An item's prices and modifiers are replaced by those given."""
    connection.executemany(
        "INSERT INTO cities (id, name, delivery_cost, free_delivery_from) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " delivery_cost = excluded.delivery_cost, free_delivery_from = excluded.free_delivery_from",
        [
            (c["id"], c["name"], c["delivery_cost"], c.get("free_delivery_from"))
            for c in catalogue["cities"]
        ],
    )
    connection.executemany(
        "INSERT INTO branches (id, city_id, name, address) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET city_id = excluded.city_id, name = excluded.name,"
        " address = excluded.address",
        [(b["id"], b["city_id"], b["name"], b["address"]) for b in catalogue["branches"]],
    )
    connection.executemany(
        "INSERT INTO modifiers (id, name, price) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price",
        [(m["id"], m["name"], m["price"]) for m in catalogue["modifiers"]],
    )
    for item in catalogue["items"]:
        connection.execute(
            "INSERT INTO menu_items (id, name, category) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category",
            (item["id"], item["name"], item["category"]),
        )
        connection.execute("DELETE FROM menu_prices WHERE item_id = ?", (item["id"],))
        connection.executemany(
            "INSERT INTO menu_prices (item_id, city_id, price) VALUES (?, ?, ?)",
            [(item["id"], int(city), price) for city, price in item["prices"].items()],
        )
        connection.execute("DELETE FROM item_modifiers WHERE item_id = ?", (item["id"],))
        connection.executemany(
            "INSERT INTO item_modifiers (item_id, modifier_id) VALUES (?, ?)",
            [(item["id"], modifier) for modifier in item["modifiers"]],
        )
