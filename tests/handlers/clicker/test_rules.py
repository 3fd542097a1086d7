"""The clicker's formulas, each against numbers worked out by hand from clicker.md."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from msgspec.structs import replace

from handlers.clicker import rules
from handlers.clicker.rules import MAX_INTEGER, Catalogue, GameError, Progress, round_half_up
from scripts.seed import clicker_catalogue

SANDWICH, COLA, NEW_STOVE, WAFFLE, NEW_CASHIER, PRO_OVEN = 1, 2, 4, 14, 15, 16
AUTO_CASHIER, PROMO, PRICE_INCREASE, WAITER, AUTO_SALES, GASTRO = 19, 25, 33, 43, 57, 78


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    upgrades, levels = clicker_catalogue()
    return Catalogue.build(upgrades, levels)


def progress(
    catalogue: Catalogue, owned: dict[int, int] | None = None, **values: object
) -> Progress:
    owned = owned or {}
    start = Progress.new(catalogue)
    return replace(start, owned=owned, stats=rules.derive(owned, catalogue), **values)


def refusal(rule: Callable[..., object], *args: object) -> str:
    """The message of the GameError that `rule(*args)` raises."""
    with pytest.raises(GameError) as caught:
        rule(*args)
    return caught.value.message


def test_catalogue_is_the_original(catalogue: Catalogue) -> None:
    assert len(catalogue.upgrades) == 78
    assert [catalogue.xp_to_reach[rank] for rank in (1, 5, 6, 100)] == [120, 400, 362, 100000]
    kinds = [u.upgrade_type for u in catalogue.upgrades]
    assert kinds == sorted(
        kinds, key=rules.TYPE_ORDER.index
    )  # dish, equipment, global, staff, point
    dishes = [u for u in catalogue.upgrades if u.upgrade_type == "dish"]
    assert [u.id for u in dishes[:4]] == [SANDWICH, COLA, 3, 5]  # by price: 0, 25, 40, 60
    assert catalogue.by_id[GASTRO].price == 1_500_000_000_000


def test_round_half_up_is_gos_math_round() -> None:
    assert round_half_up(7.375, 2) == 7.38
    assert round_half_up(2.5) == 3
    assert round_half_up(1.125, 1) == 1.1  # 11.25 -> 11
    assert round_half_up(0.00005, 4) == 0.0001
    assert round_half_up(0.145, 2) == 0.14  # 0.145 * 100 is 14.4999... in binary, as in Go


def test_derived_stats_of_nothing(catalogue: Catalogue) -> None:
    stats = rules.derive({}, catalogue)
    assert (stats.mPc, stats.dPc, stats.sPs) == (0, 0, 1)
    assert (stats.dPs, stats.mPs, stats.dM, stats.mM, stats.dpM, stats.mpM) == (1, 1, 1, 1, 1, 1)
    assert not stats.has_dish and not stats.passive


def test_derived_stats_sum_boost_times_bought(catalogue: Catalogue) -> None:
    owned = {SANDWICH: 1, WAFFLE: 1, NEW_STOVE: 3, NEW_CASHIER: 2, PROMO: 2, PRICE_INCREASE: 1}
    stats = rules.derive(owned, catalogue)
    assert stats.mPc == 1 + 2  # sandwich 1, waffle 2
    assert stats.dPc == 3  # new stove 1 x 3
    assert stats.sPs == 2 * 2 + 1  # extra cashier 2 x 2, plus one
    assert stats.dM == 4  # promo 2 x 2
    assert stats.mM == 1.5
    assert stats.has_dish and not stats.passive
    assert rules.derive({AUTO_CASHIER: 1}, catalogue).passive
    assert rules.derive({PRO_OVEN: 1}, catalogue).passive


def test_prices_grow_by_price_factor_to_the_times_bought(catalogue: Catalogue) -> None:
    stove = catalogue.by_id[NEW_STOVE]  # 250 x 3.2^n
    assert [rules.price(stove, n) for n in range(5)] == [250, 800, 2560, 8192, 26214]
    waiter = catalogue.by_id[WAITER]  # 100000 x 2.3^3 is 1216699.9999999998 in binary
    assert rules.price(waiter, 3) == 1216700
    gastro = catalogue.by_id[GASTRO]
    assert rules.price(gastro, 17) == 4361966924740235264
    assert rules.price(gastro, 18) is None  # beyond 2^63 - 1: unaffordable
    assert rules.price(gastro, 10_000) is None  # float overflow is not an error either


def test_cook(catalogue: Catalogue) -> None:
    assert refusal(rules.cook, progress(catalogue)) == "can't perform this action"
    start = progress(catalogue, {SANDWICH: 1, NEW_STOVE: 2, PROMO: 1}, dishes=5, xp=3.5)
    after, data = rules.cook(start)  # ceil((1 + 2) x 2) = 6 dishes, 1 xp
    assert data == {"dishes": 11, "xp": 4.5}
    assert (after.dishes, after.xp) == (11, 4.5)
    prestige = progress(catalogue, {SANDWICH: 1}, xp=7.0, prestige_current=2.5)
    assert rules.cook(prestige)[1] == {"dishes": 1, "xp": 8.13}  # 7 + 1 + 0.125 = 8.125 -> 8.13


def test_sell(catalogue: Catalogue) -> None:
    assert refusal(rules.sell, progress(catalogue, {SANDWICH: 1})) == "not enough dishes"
    start = progress(
        catalogue, {SANDWICH: 1, WAFFLE: 1, NEW_CASHIER: 1, PRICE_INCREASE: 1}, dishes=2
    )
    # sPs 3 but only 2 dishes: ceil(mPc 3 x mM 1.5 x 2 x boost 1) = 9
    assert rules.sell(start)[1] == {"dishes": 0, "money": 9, "xp": 1}
    boosted = replace(start, dishes=10, prestige_boost=1.1, money=1)
    # ceil(3 x 1.5 x 3 x 1.1) = ceil(14.85) = 15
    assert rules.sell(boosted)[1] == {"dishes": 7, "money": 16, "xp": 1}
    rich = replace(start, money=MAX_INTEGER - 3)
    assert rules.sell(rich)[1]["money"] == MAX_INTEGER  # saturates


def test_buy(catalogue: Catalogue) -> None:
    start = progress(catalogue, money=1000, rank=4, xp=10.0)
    after, data = rules.buy(start, catalogue, NEW_STOVE)
    # xp + 0.05 x xp_to_reach(5) = 10 + 0.05 x 400 = 30
    assert data == {"money": 750, "xp": 30}
    assert after.owned == {NEW_STOVE: 1} and after.stats.dPc == 1
    assert (
        refusal(rules.buy, after, catalogue, NEW_STOVE)
        == "not enough money, you have: 750, you need: 800"
    )  # the second one costs 250 x 3.2
    with_dish, _ = rules.buy(start, catalogue, SANDWICH)
    assert (
        refusal(rules.buy, with_dish, catalogue, SANDWICH) == "upgrade not found"
    )  # a dish is bought once
    assert refusal(rules.buy, start, catalogue, 999) == "upgrade not found"
    prestige = replace(start, prestige_current=3.0)
    assert rules.buy(prestige, catalogue, SANDWICH)[1] == {"money": 1000, "xp": 30.3}
    too_dear = progress(catalogue, {GASTRO: 18}, money=MAX_INTEGER)
    message = f"^not enough money, you have: {MAX_INTEGER}, you need: {MAX_INTEGER}$"
    with pytest.raises(GameError, match=message):
        rules.buy(too_dear, catalogue, GASTRO)


def test_xp_never_grows_at_rank_100(catalogue: Catalogue) -> None:
    top = progress(catalogue, {SANDWICH: 1}, rank=100, xp=5.0, money=10**6, dishes=5)
    assert rules.cook(top)[1]["xp"] == 5
    assert rules.sell(top)[1]["xp"] == 5
    assert rules.buy(top, catalogue, NEW_STOVE)[1]["xp"] == 5
    assert rules.level_check(top, catalogue) == {"current_rank": 100, "current_xp": 5}
    assert rules.level_up(top, catalogue) == (top, {"current_rank": 100, "current_xp": 5})


def test_levels_across_the_dip(catalogue: Catalogue) -> None:
    start = progress(catalogue, rank=4, xp=1000.0)
    assert rules.level_check(start, catalogue) == {
        "current_rank": 4,
        "current_xp": 1000,
        "needed_xp": 400,
    }
    five, data = rules.level_up(start, catalogue)
    assert data == {"current_rank": 5, "current_xp": 600, "next_xp": 362}
    six, data = rules.level_up(five, catalogue)  # rank 6 needs less than rank 5 did
    assert data == {"current_rank": 6, "current_xp": 238, "next_xp": 474}
    assert rules.level_up(six, catalogue) == (six, {"current_rank": 6, "current_xp": 238})
    ninety_nine = progress(catalogue, rank=99, xp=100000.5)
    _, data = rules.level_up(ninety_nine, catalogue)
    assert data == {"current_rank": 100, "current_xp": 0.5}  # no next_xp beyond the top


def test_reset(catalogue: Catalogue) -> None:
    assert (
        refusal(rules.reset, progress(catalogue, prestige_accumulated=0.9999), catalogue)
        == "not enough prestige points"
    )
    start = progress(
        catalogue,
        {SANDWICH: 1, NEW_STOVE: 2},
        money=500,
        dishes=7,
        rank=9,
        xp=44.0,
        prestige_current=1.0,
        prestige_boost=1.1,
        prestige_accumulated=2.5,
    )
    after, data = rules.reset(start, catalogue)
    assert data == {"message": "success"}
    # current 1 + 2.5 = 3.5; boost 1.1 + round1(1 + 0.05 x 3.5 = 1.175) = 1.1 + 1.2 = 2.3
    assert (after.prestige_current, after.prestige_boost, after.prestige_accumulated) == (
        3.5,
        2.3,
        0,
    )
    assert (after.money, after.dishes, after.rank, after.xp, after.owned) == (0, 0, 0, 0, {})
    assert not after.stats.has_dish


def test_passive_tick_steps(catalogue: Catalogue) -> None:
    # mPs 1 (smart register), dPs 1 by default: accumulate, sell from 3 dishes, cook.
    start = progress(catalogue, {SANDWICH: 1, AUTO_CASHIER: 1}, money=5, dishes=2, xp=1.0)
    one = rules.tick(start)  # 2 dishes: no sale; cook ceil(1 x 1 x 1) = 1
    assert (one.money, one.dishes, one.xp, one.prestige_accumulated) == (5, 3, 1.2, 0.0001)
    two = rules.tick(one)  # 3 dishes: sell min(sPs 1, 3) for ceil(1 x 1 x 1 x 1) = 1, then cook
    assert (two.money, two.dishes, two.xp, two.prestige_accumulated) == (6, 3, 1.45, 0.0002)
    assert msgspec.json.encode(rules.passive_snapshot(two)) == (
        b'{"money":6,"dishes":3,"level_rank":0,"level_xp":1.45,"prestige_accumulated":0.0002}'
    )


def test_passive_tick_with_prestige_and_multipliers(catalogue: Catalogue) -> None:
    owned = {WAITER: 2, AUTO_SALES: 1, NEW_CASHIER: 1, PRO_OVEN: 3}
    start = progress(catalogue, owned, money=0, dishes=10, xp=0.0, prestige_current=2.0)
    # mPs 20, mpM 2, sPs 3, dPs 3, dpM 1, p 2
    after = rules.tick(start)
    assert after.prestige_accumulated == 0.002  # round4(20 x 2 / 20000)
    assert after.money == 20 * 2 * 2 * 3  # ceil(mPs x mpM x p x n)
    assert after.dishes == 10 - 3 + 3 * 1 * 2  # sold 3, cooked ceil(dPs x dpM x p)
    assert after.xp == 1.0 + 0.6  # 0.05 x 20, then 0.2 x 3


def test_upgrade_lists(catalogue: Catalogue) -> None:
    owned = {SANDWICH: 1, NEW_STOVE: 2}
    lists = rules.upgrade_lists(progress(catalogue, owned), catalogue)
    available_ids = [u["id"] for u in lists["available"]]
    assert SANDWICH not in available_ids and NEW_STOVE in available_ids and COLA in available_ids
    assert len(available_ids) == 77
    assert [u["id"] for u in lists["current"]] == [SANDWICH, NEW_STOVE]
    stove = lists["current"][1]
    assert stove == {
        "id": 4,
        "name": "Новая плита",
        "icon_name": "new_stove",
        "upgrade_type": "equipment",
        "price_factor": 3.2,
        "price": 250,
        "access_level": 1,
        "boost": {"id": 4, "boost_type": "dPc", "value": 1},
        "times_bought": 2,
    }
