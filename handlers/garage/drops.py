"""Opening a container: one weighted pick per slot, and what each pick grants. Pure.

For each slot, one drop-table row is chosen with probability proportional to
its `chance`. `money` and `gold` grant a random amount in [min, max);
`icon` grants a droppable icon the player lacks; `skin` grants a skin of the
row's rarity, for one of the player's cars, that they lack. A slot that can
grant nothing (no rows, nothing left to give) is exchanged for 1 money.

Invariant: the randomness comes only from the `random.Random` passed in, so a
seeded one makes every opening repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EXCHANGE = {"exchanged": True, "exchanged_type": "money", "money": 1}


@dataclass(frozen=True)
class DropRow:
    slot: int
    drop_type: str  # money, gold, icon, skin
    chance: int
    min_value: int
    max_value: int
    rarity: str | None


@dataclass(frozen=True)
class Skin:
    id: int
    car_id: int
    type: str
    name: str
    rarity: str


@dataclass(frozen=True)
class Icon:
    id: int
    name: str


@dataclass
class Grants:
    """What one opening gives: amounts, and new icons and skins."""

    money: int = 0
    gold: int = 0
    icons: list[int] = field(default_factory=list)
    skins: list[int] = field(default_factory=list)
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)  # the `drop` event's view


def open_container(
    rng: random.Random,
    slots: int,
    rows: Sequence[DropRow],
    *,
    droppable_icons: Sequence[Icon],
    owned_icons: set[int],
    skins: Sequence[Skin],
    owned_skins: set[int],
    car_ids: set[int],
) -> Grants:
    grants = Grants()
    by_slot: Mapping[int, list[DropRow]] = {
        slot: [row for row in rows if row.slot == slot] for slot in range(1, slots + 1)
    }
    for slot, choices in by_slot.items():
        payload = _grant(
            rng, choices, grants, droppable_icons, owned_icons, skins, owned_skins, car_ids
        )
        if payload is None:
            grants.money += 1
            payload = dict(EXCHANGE)
        grants.slots[str(slot)] = payload
    return grants


def _grant(
    rng: random.Random,
    choices: list[DropRow],
    grants: Grants,
    droppable_icons: Sequence[Icon],
    owned_icons: set[int],
    skins: Sequence[Skin],
    owned_skins: set[int],
    car_ids: set[int],
) -> dict[str, Any] | None:
    if not choices:
        return None
    row = rng.choices(choices, weights=[choice.chance for choice in choices])[0]
    if row.drop_type in ("money", "gold"):
        amount = (
            rng.randrange(row.min_value, row.max_value)
            if row.max_value > row.min_value
            else row.min_value
        )
        if row.drop_type == "money":
            grants.money += amount
        else:
            grants.gold += amount
        return {row.drop_type: amount}
    if row.drop_type == "icon":
        icons = [icon for icon in droppable_icons if icon.id not in owned_icons]
        if not icons:
            return None
        icon = rng.choice(icons)
        owned_icons.add(icon.id)
        grants.icons.append(icon.id)
        return {"icon": {"id": icon.id, "name": icon.name}}
    candidates = [
        skin
        for skin in skins
        if skin.rarity == row.rarity and skin.car_id in car_ids and skin.id not in owned_skins
    ]
    if not candidates:
        return None
    skin = rng.choice(candidates)
    owned_skins.add(skin.id)
    grants.skins.append(skin.id)
    return {
        "skin": {
            "id": skin.id,
            "car_id": skin.car_id,
            "type": skin.type,
            "name": skin.name,
            "rarity": skin.rarity,
        }
    }
