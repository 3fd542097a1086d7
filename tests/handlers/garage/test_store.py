"""The profile's lists come in their documented order however their rows were added."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from handlers.garage import store
from storage import schema

CATALOGUE = Path(__file__).parents[3] / "scripts" / "catalogues" / "garage.json"


def test_every_list_of_the_profile_is_in_order() -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    schema.prepare(connection)
    store.replace_catalogue(connection, json.loads(CATALOGUE.read_text(encoding="utf-8")))
    user_id = store.register(connection, store.token_hash("t"), "iOS")
    store.add_currency(connection, user_id, "money", 1_000_000)
    for car_id in (3, 2):  # bought newest catalogue id first
        assert store.buy_car(connection, user_id, car_id)["success"] is True
    for number, kind in ((2, "race"), (1, "race"), (3, "adventure")):
        store.finish_level(connection, user_id, number, kind, 1, 10.5)
    connection.executemany(  # after the starter icon (1), added out of order
        "INSERT INTO garage_user_icons (user_id, icon_id) VALUES (?, ?)",
        [(user_id, 4), (user_id, 3)],
    )
    connection.executemany(  # ids out of the order of their types, and of their adding
        "INSERT INTO garage_user_containers (id, user_id, container_type_id, ready_at)"
        " VALUES (?, ?, ?, 0)",
        [(9, user_id, 1), (5, user_id, 2)],
    )

    profile = json.loads(bytes(store.profile(connection, user_id, "t")))
    assert [car["id"] for car in profile["user_cars"]] == [1, 2, 3]
    # Car 3's default skins (10, 11) were added before car 2's (6, 7).
    assert [skin["skin_id"] for skin in profile["user_skins"]] == [1, 2, 6, 7, 10, 11]
    assert [
        (level["level_type"], level["level_number"]) for level in profile["user_adventure_levels"]
    ] == [("adventure", 3), ("race", 1), ("race", 2)]
    assert profile["user_icons"] == [1, 3, 4]
    assert [container["id"] for container in profile["containers"]] == [1, 5, 9]
    assert json.loads(bytes(store.cars(connection, user_id))) == profile["user_cars"]
