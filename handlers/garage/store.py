"""The garage's tables: the public catalogue and each player's garage.

Every purchase, upgrade and grant is one transaction whose debit is one
conditional UPDATE (`... WHERE money >= price`); CHECK constraints keep every
balance non-negative. Functions take the connection of their transaction.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from handlers.garage import drops

CURRENCY_COLUMNS = {"money": "money", "gold": "gold", "event": "event_money"}
UPGRADES = ("engine", "suspension", "grip", "downforce")
UPGRADE_CAP = 20
STARTER_CAR = 1
STARTER_ICON = 1
STARTER_CONTAINER = 1

# The public catalogue `query` serves, and the columns it may return.
PUBLIC_MODELS: dict[str, tuple[str, ...]] = {
    "cars": ("id", "class", "name", "price", "upgrade_price"),
    "icons": ("id", "name", "droppable"),
    "skins": ("id", "car_id", "type", "name", "rarity", "is_default"),
}
# Tables `query` knows and refuses.
PRIVATE_MODELS = frozenset(
    {
        "users",
        "players",
        "user_cars",
        "user_skins",
        "user_icons",
        "user_adventure_levels",
        "containers",
        "container_types",
        "drops",
    }
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade_price(base: int, level: int) -> int:
    """Going from `level` to the next: base + sum over i = 2..level of (base/2 + 100 (i - 2))."""
    return base + sum(base // 2 + 100 * (i - 2) for i in range(2, level + 1))


# -- catalogue ------------------------------------------------------------------------------


def replace_catalogue(connection: sqlite3.Connection, catalogue: Mapping[str, Any]) -> None:
    """Write scripts/catalogues/garage.json's rows; running it again changes nothing."""
    for table, columns in (
        ("garage_cars", ("id", "class", "name", "price", "upgrade_price")),
        ("garage_skins", ("id", "car_id", "type", "name", "rarity", "is_default")),
        ("garage_icons", ("id", "name", "droppable")),
        (
            "garage_container_types",
            ("id", "name", "slots", "opening_seconds", "price_money", "price_gold"),
        ),
        (
            "garage_drops",
            (
                "id",
                "container_type_id",
                "slot",
                "drop_type",
                "chance",
                "min_value",
                "max_value",
                "rarity",
            ),
        ),
    ):
        key = table.removeprefix("garage_")
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            [tuple(_column(row, column) for column in columns) for row in catalogue[key]],
        )


_OPTIONAL = {"min_value": 0, "max_value": 0, "rarity": None}


def _column(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column, _OPTIONAL.get(column))
    return int(value) if isinstance(value, bool) else value


def query(
    connection: sqlite3.Connection, model: str, attributes: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of a public model (`model` and `attributes` already checked against PUBLIC_MODELS)."""
    columns = ", ".join(attributes)
    rows = connection.execute(f"SELECT {columns} FROM garage_{model} ORDER BY id").fetchall()
    return [dict(zip(attributes, row, strict=True)) for row in rows]


# -- players ---------------------------------------------------------------------------------


def user_of(connection: sqlite3.Connection, digest: str) -> int | None:
    row = connection.execute(
        "SELECT user_id FROM garage_players WHERE token_hash = ?", (digest,)
    ).fetchone()
    return int(row[0]) if row else None


def token_taken(connection: sqlite3.Connection, digest: str) -> bool:
    return user_of(connection, digest) is not None


def register(connection: sqlite3.Connection, digest: str, device: str) -> int:
    """A new player: the starter car with its default skins, icon 1, one starter container."""
    user_id = connection.execute(
        "INSERT INTO users (created_at) VALUES (?)", (int(time.time()),)
    ).lastrowid
    assert user_id is not None
    connection.execute(
        "INSERT INTO garage_players (user_id, token_hash, device, user_name, current_icon)"
        " VALUES (?, ?, ?, ?, ?)",
        (user_id, digest, device, f"Player{user_id}", STARTER_ICON),
    )
    _give_car(connection, user_id, STARTER_CAR)
    connection.execute(
        "INSERT INTO garage_user_icons (user_id, icon_id) VALUES (?, ?)", (user_id, STARTER_ICON)
    )
    connection.execute(
        "INSERT INTO garage_user_containers (user_id, container_type_id, ready_at)"
        " VALUES (?, ?, ?)",
        (user_id, STARTER_CONTAINER, time.time()),
    )
    return user_id


def _give_car(connection: sqlite3.Connection, user_id: int, car_id: int) -> tuple[int, int]:
    """Add the car with its default body and disk; their skin ids."""
    defaults = dict(
        connection.execute(
            "SELECT type, id FROM garage_skins WHERE car_id = ? AND is_default = 1", (car_id,)
        ).fetchall()
    )
    connection.execute(
        "INSERT INTO garage_user_cars (user_id, car_id, skin_id, disk_id) VALUES (?, ?, ?, ?)",
        (user_id, car_id, defaults["body"], defaults["disk"]),
    )
    connection.executemany(
        "INSERT OR IGNORE INTO garage_user_skins (user_id, skin_id) VALUES (?, ?)",
        [(user_id, defaults["body"]), (user_id, defaults["disk"])],
    )
    return defaults["body"], defaults["disk"]


# -- answers, as JSON made by SQLite ---------------------------------------------------------
#
# A profile is one statement whose JSON goes into the frame as it is (msgspec.Raw): six
# statements, the dictionaries built from them and their encoding (twice: event and ack)
# cost a fifth more. Each shape is written once, below.
#
# A list is one json_group_array straight over the player's rows: SQLite 3.40 has no
# ORDER BY inside an aggregate, and the rows arrive in the order of the key each list
# is searched by, which is the answer's order whichever way the planner goes (a car's
# or skin's key in the player's table equals the catalogue's, and a full scan follows
# the same key). So no list needs a sort, or an ordered subquery whose objects come back
# as text for json() to parse again: the profile's statement took 66-72 µs that way and
# 35-42 without (in process, on a busy host; three cars, five levels, two containers).
# Migration 0011 gave levels and containers such keys. SQLite writes a REAL with 15
# digits, which does not give back every double (a container's ready_at would move), so
# REALs go out through printf('%!.17g'), which does.

_CAR = (
    "json_object('id', c.id, 'class', c.class, 'name', c.name, 'skin_id', u.skin_id,"
    " 'disk_id', u.disk_id, 'engine', u.engine, 'suspension', u.suspension, 'grip', u.grip,"
    " 'downforce', u.downforce)"
)
_CARS_OWNED = (  # in the order of car_id
    "FROM garage_user_cars AS u JOIN garage_cars AS c ON c.id = u.car_id WHERE u.user_id = :user"
)
_SKIN = (
    "json_object('skin_id', s.id, 'car_id', s.car_id, 'type', s.type, 'name', s.name,"
    " 'rarity', s.rarity, 'is_new', json(iif(u.is_new, 'true', 'false')))"
)
_SKINS_OWNED = (  # in the order of skin_id
    "FROM garage_user_skins AS u JOIN garage_skins AS s ON s.id = u.skin_id WHERE u.user_id = :user"
)
_LEVEL = (
    "json_object('level_number', level_number, 'level_type', level_type, 'stars', stars,"
    " 'time', json(printf('%!.17g', time)))"
)
_CONTAINER = (
    "json_object('id', id, 'container_type_id', container_type_id,"
    " 'ready_at', json(printf('%!.17g', ready_at)),"
    " 'ready', json(iif(ready_at <= :now, 'true', 'false')))"
)


def _list(item: str, rows: str) -> str:
    """The JSON array of `item` for each of `rows` (a FROM clause), in the rows' order."""
    return f"(SELECT json_group_array({item}) {rows})"


_PROFILE = (
    "SELECT json_object('id', user_id, 'token', :token, 'user_name', user_name, 'level', level,"
    " 'adventure_stars', adventure_stars, 'current_icon', current_icon, 'money', money,"
    " 'gold', gold, 'event_money', event_money,"
    f" 'user_cars', {_list(_CAR, _CARS_OWNED)},"
    f" 'user_skins', {_list(_SKIN, _SKINS_OWNED)},"
    f" 'user_icons', {_list('icon_id', 'FROM garage_user_icons WHERE user_id = :user')},"
    # by level_type, then level_number
    f" 'user_adventure_levels', {_list(_LEVEL, 'FROM garage_user_levels WHERE user_id = :user')},"
    # by id
    f" 'containers', {_list(_CONTAINER, 'FROM garage_user_containers WHERE user_id = :user')})"
    " FROM garage_players WHERE user_id = :user"
)
_CARS = f"SELECT {_list(_CAR, _CARS_OWNED)}"
_BOUGHT = (  # the car just bought, and its two skins
    f"SELECT (SELECT {_CAR} {_CARS_OWNED} AND u.car_id = :car),"
    f" {_list(_SKIN, _SKINS_OWNED + ' AND s.id IN (:body, :disk)')}"
)


def profile(connection: sqlite3.Connection, user_id: int, token: str) -> msgspec.Raw:
    """The player's `user` object (players are never deleted: the row is there)."""
    (user,) = connection.execute(
        _PROFILE, {"user": user_id, "token": token, "now": time.time()}
    ).fetchone()
    return msgspec.Raw(user)


def cars(connection: sqlite3.Connection, user_id: int) -> msgspec.Raw:
    """The `user_cars` list."""
    (array,) = connection.execute(_CARS, {"user": user_id}).fetchone()
    return msgspec.Raw(array)


def add_currency(connection: sqlite3.Connection, user_id: int, kind: str, amount: int) -> None:
    column = CURRENCY_COLUMNS[kind]
    connection.execute(
        f"UPDATE garage_players SET {column} = {column} + ? WHERE user_id = ?", (amount, user_id)
    )


def _debit(connection: sqlite3.Connection, user_id: int, price: int) -> bool:
    return (
        connection.execute(
            "UPDATE garage_players SET money = money - ? WHERE user_id = ? AND money >= ?",
            (price, user_id, price),
        ).rowcount
        == 1
    )


def buy_car(connection: sqlite3.Connection, user_id: int, car_id: int) -> dict[str, Any]:
    """The `buy_car` answer: success with the car and its skins, or the reason it failed."""
    car = connection.execute("SELECT price FROM garage_cars WHERE id = ?", (car_id,)).fetchone()
    if car is None:
        return {"success": False, "errors": ["CAR_NOT_FOUND"]}
    owned = connection.execute(
        "SELECT 1 FROM garage_user_cars WHERE user_id = ? AND car_id = ?", (user_id, car_id)
    ).fetchone()
    if owned is not None:
        return {"success": False, "errors": ["ALREADY_HAVE_CAR"]}
    if not _debit(connection, user_id, car[0]):
        return {"success": False, "errors": ["NOT_ENOUGH_CURRENCY"]}
    body, disk = _give_car(connection, user_id, car_id)
    user_car, skins = connection.execute(
        _BOUGHT,
        {"user": user_id, "car": car_id, "body": body, "disk": disk},
    ).fetchone()
    return {"success": True, "user_car": msgspec.Raw(user_car), "user_skin": msgspec.Raw(skins)}


def upgrade_car(connection: sqlite3.Connection, user_id: int, car_id: int, part: str) -> bool:
    """One level more of `part`; False when not owned, at the cap, or not affordable."""
    row = connection.execute(
        f"SELECT u.{part}, c.upgrade_price FROM garage_user_cars AS u"
        " JOIN garage_cars AS c ON c.id = u.car_id WHERE u.user_id = ? AND u.car_id = ?",
        (user_id, car_id),
    ).fetchone()
    if row is None or row[0] >= UPGRADE_CAP:
        return False
    if not _debit(connection, user_id, upgrade_price(row[1], row[0])):
        return False
    connection.execute(
        f"UPDATE garage_user_cars SET {part} = {part} + 1 WHERE user_id = ? AND car_id = ?",
        (user_id, car_id),
    )
    return True


def change_skin(connection: sqlite3.Connection, user_id: int, car_id: int, skin_id: int) -> bool:
    row = connection.execute(
        "SELECT s.type FROM garage_user_skins AS u JOIN garage_skins AS s ON s.id = u.skin_id"
        " JOIN garage_user_cars AS c ON c.user_id = u.user_id AND c.car_id = s.car_id"
        " WHERE u.user_id = ? AND u.skin_id = ? AND s.car_id = ?",
        (user_id, skin_id, car_id),
    ).fetchone()
    if row is None:
        return False
    column = "skin_id" if row[0] == "body" else "disk_id"
    connection.execute(
        f"UPDATE garage_user_cars SET {column} = ? WHERE user_id = ? AND car_id = ?",
        (skin_id, user_id, car_id),
    )
    connection.execute(
        "UPDATE garage_user_skins SET is_new = 0 WHERE user_id = ? AND skin_id = ?",
        (user_id, skin_id),
    )
    return True


def change_icon(connection: sqlite3.Connection, user_id: int, icon_id: int) -> bool:
    return (
        connection.execute(
            "UPDATE garage_players SET current_icon = ? WHERE user_id = ? AND EXISTS"
            " (SELECT 1 FROM garage_user_icons WHERE user_id = ? AND icon_id = ?)",
            (icon_id, user_id, user_id, icon_id),
        ).rowcount
        == 1
    )


def finish_level(
    connection: sqlite3.Connection, user_id: int, number: int, kind: str, stars: int, seconds: float
) -> dict[str, Any]:
    """Keep the best stars and the best time for the level; the player's stars are their sum."""
    row = connection.execute(
        "INSERT INTO garage_user_levels (user_id, level_number, level_type, stars, time)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, level_type, level_number) DO UPDATE SET"
        " stars = max(stars, excluded.stars), time = min(time, excluded.time)"
        " RETURNING stars, time",
        (user_id, number, kind, stars, seconds),
    ).fetchone()
    connection.execute(
        "UPDATE garage_players SET adventure_stars ="
        " (SELECT coalesce(sum(stars), 0) FROM garage_user_levels WHERE user_id = ?)"
        " WHERE user_id = ?",
        (user_id, user_id),
    )
    return {"level_number": number, "level_type": kind, "stars": row[0], "time": row[1]}


def open_container(
    connection: sqlite3.Connection, user_id: int, container_type: int, rng: random.Random
) -> dict[str, Any] | None:
    """Open one ready container of this type; None when there is none. Grants and the
    container's removal are one transaction."""
    found = connection.execute(
        "SELECT c.id, t.slots FROM garage_user_containers AS c"
        " JOIN garage_container_types AS t ON t.id = c.container_type_id"
        " WHERE c.user_id = ? AND c.container_type_id = ? AND c.ready_at <= ?"
        " ORDER BY c.ready_at, c.id LIMIT 1",
        (user_id, container_type, time.time()),
    ).fetchone()
    if found is None:
        return None
    container_id, slots = found
    rows = [
        drops.DropRow(*row)
        for row in connection.execute(
            "SELECT slot, drop_type, chance, min_value, max_value, rarity FROM garage_drops"
            " WHERE container_type_id = ? ORDER BY id",
            (container_type,),
        )
    ]
    grants = drops.open_container(
        rng,
        slots,
        rows,
        droppable_icons=[
            drops.Icon(*row)
            for row in connection.execute(
                "SELECT id, name FROM garage_icons WHERE droppable = 1 ORDER BY id"
            )
        ],
        owned_icons={
            icon
            for (icon,) in connection.execute(
                "SELECT icon_id FROM garage_user_icons WHERE user_id = ?", (user_id,)
            )
        },
        skins=[
            drops.Skin(*row)
            for row in connection.execute(
                "SELECT id, car_id, type, name, rarity FROM garage_skins ORDER BY id"
            )
        ],
        owned_skins={
            skin
            for (skin,) in connection.execute(
                "SELECT skin_id FROM garage_user_skins WHERE user_id = ?", (user_id,)
            )
        },
        car_ids={
            car
            for (car,) in connection.execute(
                "SELECT car_id FROM garage_user_cars WHERE user_id = ?", (user_id,)
            )
        },
    )
    connection.execute(
        "UPDATE garage_players SET money = money + ?, gold = gold + ? WHERE user_id = ?",
        (grants.money, grants.gold, user_id),
    )
    connection.executemany(
        "INSERT INTO garage_user_icons (user_id, icon_id) VALUES (?, ?)",
        [(user_id, icon) for icon in grants.icons],
    )
    connection.executemany(
        "INSERT INTO garage_user_skins (user_id, skin_id) VALUES (?, ?)",
        [(user_id, skin) for skin in grants.skins],
    )
    connection.execute("DELETE FROM garage_user_containers WHERE id = ?", (container_id,))
    return {"items": {"slots": grants.slots}}
