"""Click & Cook's game rules, as ../shared/spec/clicker.md states them: pure functions.

Each rule takes a player's `Progress` (and the catalogue) and returns the next
`Progress` with the response data, or raises `GameError` with the documented
message. Nothing here does I/O, so every formula is unit-tested directly.

Invariants: money and dishes are integers in 0..2**63-1 (gains saturate, a
price beyond that range is unaffordable); xp never grows at rank 100; a
`Progress` is never mutated, so a failed commit leaves the old one intact.

Rounding is half away from zero, as Go's math.Round in the original server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec.structs import replace

MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER maximum
MAX_RANK = 100
TYPE_ORDER = ("dish", "equipment", "global", "staff", "point")
BOOST_TYPES = ("mPc", "dPc", "dPs", "mPs", "dM", "mM", "dpM", "mpM", "sPs")
# Boost sums that become 1 when nothing raised them (multipliers and rates).
DEFAULT_ONE = ("dPs", "mPs", "dpM", "mpM", "mM", "dM")


class GameError(Exception):
    """A refused action; the message is the one the spec documents."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Upgrade:
    id: int
    name: str
    icon_name: str
    upgrade_type: str
    price: int
    price_factor: float
    access_level: int
    boost_type: str
    boost_value: float


@dataclass(frozen=True)
class Catalogue:
    upgrades: tuple[Upgrade, ...]  # in display order: by type, then price, then id
    by_id: Mapping[int, Upgrade]
    xp_to_reach: Mapping[int, int]  # rank -> xp needed to reach it from the rank below

    @classmethod
    def build(cls, upgrades: list[Upgrade], xp_to_reach: Mapping[int, int]) -> Catalogue:
        order = {name: index for index, name in enumerate(TYPE_ORDER)}
        ordered = sorted(upgrades, key=lambda u: (order[u.upgrade_type], u.price, u.id))
        return cls(tuple(ordered), {u.id: u for u in ordered}, dict(xp_to_reach))

    def needed_xp(self, rank: int) -> int | None:
        """xp needed to go from `rank` to the next; None at the top rank."""
        return None if rank >= MAX_RANK else self.xp_to_reach[rank + 1]


@dataclass(frozen=True, slots=True)
class Stats:
    """What a player's bought upgrades add up to."""

    mPc: float
    dPc: float
    dPs: float
    mPs: float
    dM: float
    mM: float
    dpM: float
    mpM: float
    sPs: float
    has_dish: bool
    passive: bool  # mPs or dPs comes from bought upgrades: passive ticks apply
    passive_prestige: float  # prestige each passive tick accumulates, rounded once here


def derive(owned: Mapping[int, int], catalogue: Catalogue) -> Stats:
    sums = dict.fromkeys(BOOST_TYPES, 0.0)
    has_dish = False
    for upgrade_id, times in owned.items():
        upgrade = catalogue.by_id.get(upgrade_id)
        if upgrade is None:
            continue
        sums[upgrade.boost_type] += upgrade.boost_value * times
        has_dish = has_dish or upgrade.upgrade_type == "dish"
    passive = sums["mPs"] > 0 or sums["dPs"] > 0
    sums["sPs"] += 1
    for name in DEFAULT_ONE:
        if sums[name] == 0:
            sums[name] = 1.0
    prestige = round_half_up(sums["mPs"] * sums["mpM"] / 20000, 4)
    return Stats(**sums, has_dish=has_dish, passive=passive, passive_prestige=prestige)


class Progress(msgspec.Struct, frozen=True, gc=False):
    """One player's game.

    A msgspec struct, not a dataclass: every command and every passive tick makes
    a new one, and a frozen dataclass's constructor cost ten times as much (1.6 µs).
    Untracked by the garbage collector: it holds numbers, a dict of numbers and
    `Stats`, so it can never be part of a reference cycle.
    """

    money: int
    dishes: int
    rank: int
    xp: float
    prestige_current: float
    prestige_boost: float
    prestige_accumulated: float
    owned: Mapping[int, int]  # upgrade id -> times bought (> 0); never mutated
    stats: Stats

    @classmethod
    def new(cls, catalogue: Catalogue) -> Progress:
        return cls(0, 0, 0, 0.0, 0.0, 0.0, 0.0, {}, derive({}, catalogue))


Outcome = tuple[Progress, dict[str, Any]]
_SCALES = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def round_half_up(value: float, digits: int = 0) -> float:
    """Round a finite, non-negative `value` to `digits` (0 to 4) decimals, halves away
    from zero.

    In floats throughout (`// 1.0`, not `math.floor`, which makes an int) and with
    the scales looked up: a passive tick rounds up to four times per player.
    """
    scale = _SCALES[digits]
    scaled = value * scale
    whole = scaled // 1.0
    if scaled - whole >= 0.5:
        whole += 1.0
    return whole / scale


def number(value: float) -> float | int:
    """A float as JSON shows it in the original (Go prints 2.0 as 2)."""
    return int(value) if value.is_integer() else value


def _saturating_add(value: int, gain: float) -> int:
    if gain >= MAX_INTEGER - value:
        return MAX_INTEGER
    return value + math.ceil(gain)


def _gain_xp(rank: int, xp: float, gain: float) -> float:
    return xp if rank >= MAX_RANK else round_half_up(xp + gain, 2)


def price(upgrade: Upgrade, times_bought: int) -> int | None:
    """What the next purchase costs; None when that is beyond MAX_INTEGER."""
    if times_bought == 0:
        return upgrade.price
    try:
        exact = upgrade.price * upgrade.price_factor**times_bought
    except OverflowError:  # the power is beyond a float
        return None
    if exact > MAX_INTEGER:  # infinity included
        return None
    return int(round_half_up(exact))


def cook(progress: Progress) -> Outcome:
    stats = progress.stats
    if not stats.has_dish:
        raise GameError("can't perform this action")
    dishes = _saturating_add(progress.dishes, (1 + stats.dPc) * stats.dM)
    xp = _gain_xp(progress.rank, progress.xp, 1 + 0.05 * progress.prestige_current)
    return replace(progress, dishes=dishes, xp=xp), {"dishes": dishes, "xp": number(xp)}


def sell(progress: Progress) -> Outcome:
    if progress.dishes == 0:
        raise GameError("not enough dishes")
    stats = progress.stats
    sold = min(int(stats.sPs), progress.dishes)
    boost = progress.prestige_boost or 1
    money = _saturating_add(progress.money, stats.mPc * stats.mM * sold * boost)
    dishes = progress.dishes - sold
    xp = _gain_xp(progress.rank, progress.xp, 1 + 0.05 * progress.prestige_current)
    new = replace(progress, money=money, dishes=dishes, xp=xp)
    return new, {"dishes": dishes, "money": money, "xp": number(xp)}


def is_available(upgrade: Upgrade, owned: Mapping[int, int]) -> bool:
    """Dishes are bought once; everything else can be bought again."""
    return upgrade.upgrade_type != "dish" or upgrade.id not in owned


def buy(progress: Progress, catalogue: Catalogue, upgrade_id: int) -> Outcome:
    """Buy one more of an upgrade."""
    upgrade = catalogue.by_id.get(upgrade_id)
    if upgrade is None or not is_available(upgrade, progress.owned):
        raise GameError("upgrade not found")
    times = progress.owned.get(upgrade_id, 0)
    cost = price(upgrade, times)
    if cost is None or cost > progress.money:
        need = MAX_INTEGER if cost is None else cost
        raise GameError(f"not enough money, you have: {progress.money}, you need: {need}")
    needed = catalogue.needed_xp(progress.rank) or 0
    xp = _gain_xp(progress.rank, progress.xp, 0.05 * needed + 0.1 * progress.prestige_current)
    owned = {**progress.owned, upgrade_id: times + 1}
    new = replace(
        progress,
        money=progress.money - cost,
        xp=xp,
        owned=owned,
        stats=derive(owned, catalogue),
    )
    return new, {"money": new.money, "xp": number(xp)}


def level_check(progress: Progress, catalogue: Catalogue) -> dict[str, Any]:
    data: dict[str, Any] = {"current_rank": progress.rank, "current_xp": number(progress.xp)}
    needed = catalogue.needed_xp(progress.rank)
    if needed is not None:
        data["needed_xp"] = needed
    return data


def level_up(progress: Progress, catalogue: Catalogue) -> Outcome:
    """One rank up when the xp suffices; otherwise nothing changes."""
    needed = catalogue.needed_xp(progress.rank)
    if needed is None or progress.xp < needed:
        return progress, {"current_rank": progress.rank, "current_xp": number(progress.xp)}
    rank = progress.rank + 1
    xp = round_half_up(progress.xp - needed, 2)
    data: dict[str, Any] = {"current_rank": rank, "current_xp": number(xp)}
    following = catalogue.needed_xp(rank)
    if following is not None:
        data["next_xp"] = following
    return replace(progress, rank=rank, xp=xp), data


def reset(progress: Progress, catalogue: Catalogue) -> Outcome:
    """Prestige: bank the accumulated points, start over with a bigger boost."""
    if progress.prestige_accumulated < 1:
        raise GameError("not enough prestige points")
    current = round_half_up(progress.prestige_current + progress.prestige_accumulated, 4)
    boost = round_half_up(progress.prestige_boost + round_half_up(1 + 0.05 * current, 1), 1)
    new = Progress(0, 0, 0, 0.0, current, boost, 0.0, {}, derive({}, catalogue))
    return new, {"message": "success"}


def tick(progress: Progress) -> Progress:
    """One second of passive income (the caller ticks only players with `stats.passive`)."""
    stats = progress.stats
    money, dishes, xp = progress.money, progress.dishes, progress.xp
    accumulated = progress.prestige_accumulated
    factor = progress.prestige_current or 1
    if stats.mPs > 0:
        accumulated = round_half_up(accumulated + stats.passive_prestige, 4)
    if dishes >= 3 and stats.mPs > 0:
        sold = min(int(stats.sPs), dishes)
        xp = _gain_xp(progress.rank, xp, 0.05 * stats.mPs)
        money = _saturating_add(money, stats.mPs * stats.mpM * factor * sold)
        dishes -= sold
    if stats.dPs > 0:
        xp = _gain_xp(progress.rank, xp, 0.2 * stats.dPs)
        dishes = _saturating_add(dishes, stats.dPs * stats.dpM * factor)
    return replace(progress, money=money, dishes=dishes, xp=xp, prestige_accumulated=accumulated)


class PassiveSnapshot(msgspec.Struct, gc=False):
    """What each passive tick, and the `passive` command, tells the player.

    A struct, not a dict: made for every player every second, and cheaper both to
    make and to encode."""

    money: int
    dishes: int
    level_rank: int
    level_xp: float
    prestige_accumulated: float


def passive_snapshot(progress: Progress) -> PassiveSnapshot:
    return PassiveSnapshot(
        progress.money,
        progress.dishes,
        progress.rank,
        number(progress.xp),
        number(progress.prestige_accumulated),
    )


def upgrade_view(upgrade: Upgrade, times_bought: int) -> dict[str, Any]:
    return {
        "id": upgrade.id,
        "name": upgrade.name,
        "icon_name": upgrade.icon_name,
        "upgrade_type": upgrade.upgrade_type,
        "price_factor": number(upgrade.price_factor),
        "price": upgrade.price,
        "access_level": upgrade.access_level,
        "boost": {
            "id": upgrade.id,
            "boost_type": upgrade.boost_type,
            "value": number(upgrade.boost_value),
        },
        "times_bought": times_bought,
    }


def upgrade_lists(progress: Progress, catalogue: Catalogue) -> dict[str, list[dict[str, Any]]]:
    owned = progress.owned
    return {
        "available": [
            upgrade_view(u, owned.get(u.id, 0))
            for u in catalogue.upgrades
            if is_available(u, owned)
        ],
        "current": [upgrade_view(u, owned[u.id]) for u in catalogue.upgrades if u.id in owned],
    }


def session_view(
    progress: Progress, catalogue: Catalogue, user_id: int, email: str
) -> dict[str, Any]:
    return {
        "session": {
            "user_id": user_id,
            "user_email": email,
            "money": progress.money,
            "dishes": progress.dishes,
            "level": {"rank": progress.rank, "xp": number(progress.xp)},
            "prestige": {
                "current_value": number(progress.prestige_current),
                "current_boost_value": number(progress.prestige_boost),
                "accumulated_value": number(progress.prestige_accumulated),
            },
            "upgrades": upgrade_lists(progress, catalogue),
        }
    }
