"""Drops, slot by slot, with a seeded RNG; and the upgrade price sequence."""

from __future__ import annotations

import random
from collections import Counter

from handlers.garage.drops import DropRow, Icon, Skin, open_container
from handlers.garage.store import upgrade_price

ICONS = [Icon(2, "Flag"), Icon(3, "Trophy")]
SKINS = [
    Skin(3, 1, "body", "flames", "rare"),
    Skin(4, 1, "disk", "chrome", "rare"),
    Skin(8, 2, "body", "graffiti", "rare"),
    Skin(5, 1, "body", "galaxy", "epic"),
]


def test_each_slot_grants_its_pick() -> None:
    rows = [
        DropRow(1, "money", 1, 100, 300, None),
        DropRow(2, "icon", 1, 0, 0, None),
        DropRow(3, "skin", 1, 0, 0, "rare"),
    ]
    grants = open_container(
        random.Random(1),
        3,
        rows,
        droppable_icons=ICONS,
        owned_icons={2},
        skins=SKINS,
        owned_skins={3},
        car_ids={1},
    )
    assert 100 <= grants.money < 300 and grants.gold == 0
    assert grants.icons == [3]  # the droppable icon the player lacks
    assert grants.skins == [4]  # rare, for car 1 (owned), not owned yet
    assert grants.slots == {
        "1": {"money": grants.money},
        "2": {"icon": {"id": 3, "name": "Trophy"}},
        "3": {"skin": {"id": 4, "car_id": 1, "type": "disk", "name": "chrome", "rarity": "rare"}},
    }


def test_nothing_left_to_give_is_exchanged_for_one_money() -> None:
    rows = [DropRow(1, "icon", 1, 0, 0, None), DropRow(2, "skin", 1, 0, 0, "legendary")]
    grants = open_container(
        random.Random(1),
        3,
        rows,
        droppable_icons=ICONS,
        owned_icons={2, 3},
        skins=SKINS,
        owned_skins=set(),
        car_ids={1},
    )
    exchanged = {"exchanged": True, "exchanged_type": "money", "money": 1}
    assert grants.slots == {"1": exchanged, "2": exchanged, "3": exchanged}  # slot 3: no rows
    assert (grants.money, grants.icons, grants.skins) == (3, [], [])


def test_weights_and_repeatability() -> None:
    rows = [DropRow(1, "money", 80, 1, 2, None), DropRow(1, "gold", 20, 1, 2, None)]
    picks: Counter[str] = Counter()
    for seed in range(2000):
        grants = open_container(
            random.Random(seed),
            1,
            rows,
            droppable_icons=[],
            owned_icons=set(),
            skins=[],
            owned_skins=set(),
            car_ids=set(),
        )
        picks[next(iter(grants.slots["1"]))] += 1
    assert 0.75 < picks["money"] / 2000 < 0.85
    first = open_container(
        random.Random(42),
        1,
        rows,
        droppable_icons=[],
        owned_icons=set(),
        skins=[],
        owned_skins=set(),
        car_ids=set(),
    )
    again = open_container(
        random.Random(42),
        1,
        rows,
        droppable_icons=[],
        owned_icons=set(),
        skins=[],
        owned_skins=set(),
        car_ids=set(),
    )
    assert first.slots == again.slots


def test_upgrade_prices() -> None:
    assert [upgrade_price(1000, level) for level in range(1, 6)] == [1000, 1500, 2100, 2800, 3600]
    assert upgrade_price(1500, 1) == 1500 and upgrade_price(1500, 2) == 2250
