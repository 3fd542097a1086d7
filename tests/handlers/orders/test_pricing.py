"""Pricing and the bonus rules, against numbers worked out by hand."""

from __future__ import annotations

import msgspec
import pytest

from handlers.orders.menu import Branch, City, Item, Menu, Modifier
from handlers.orders.pricing import BonusRules, OrderProblem, OrderRequest, quote

MENU = Menu(
    cities={1: City(1, "A", 199, 1500), 2: City(2, "B", 149, None)},
    branches={1: Branch(1, 1, "a", "x"), 2: Branch(2, 2, "b", "y")},
    items={
        1: Item(1, "Goulash", "hot", {1: 450, 2: 390}, frozenset({1, 3})),
        2: Item(2, "Tea", "drinks", {1: 90}, frozenset()),
    },
    modifiers={1: Modifier(1, "Cream", 40), 3: Modifier(3, "Double", 200)},
)
RULES = BonusRules(spend_percent=25, earn_percent=3, earn_from=500)


def request(**fields: object) -> OrderRequest:
    body = {
        "city_id": 1,
        "order_type": "pickup",
        "branch_id": 1,
        "payment_method": "cash",
        "items": [{"item_id": 1, "quantity": 1}],
    } | fields
    return msgspec.convert(body, OrderRequest)


def problem(order: OrderRequest, balance: int = 0) -> str:
    with pytest.raises(OrderProblem) as caught:
        quote(MENU, order, balance, RULES)
    return caught.value.message


def test_lines_modifiers_and_subtotal() -> None:
    priced = quote(
        MENU,
        request(
            items=[
                {"item_id": 1, "quantity": 2, "modifiers": [1, 3]},  # 2 x (450 + 40 + 200) = 1380
                {"item_id": 2, "quantity": 3},  # 270
            ]
        ),
        0,
        RULES,
    )
    assert (priced.subtotal, priced.delivery_cost, priced.total) == (1650, 0, 1650)
    assert priced.bonuses_to_earn == 49  # floor(3% of 1650)
    assert priced.view()["items"][0] == {
        "item_id": 1,
        "name": "Goulash",
        "quantity": 2,
        "price": 690,
        "total": 1380,
        "modifiers": [
            {"id": 1, "name": "Cream", "price": 40},
            {"id": 3, "name": "Double", "price": 200},
        ],
    }


def test_delivery_cost_and_the_free_delivery_threshold() -> None:
    delivery = {"order_type": "delivery", "delivery_street": "S", "delivery_house": "1"}
    cheap = quote(MENU, request(**delivery), 0, RULES)
    assert (cheap.subtotal, cheap.delivery_cost, cheap.total) == (450, 199, 649)
    large = quote(MENU, request(**delivery, items=[{"item_id": 1, "quantity": 4}]), 0, RULES)
    assert (large.subtotal, large.delivery_cost) == (1800, 0)  # free from 1500
    no_threshold = request(**delivery, city_id=2, items=[{"item_id": 1, "quantity": 10}])
    assert quote(MENU, no_threshold, 0, RULES).delivery_cost == 149


def test_bonus_limits() -> None:
    order = request(items=[{"item_id": 1, "quantity": 3}], bonus_to_use=337)  # subtotal 1350
    assert quote(MENU, order, 1000, RULES).bonus_used == 337  # floor(25% of 1350) = 337
    assert problem(request(items=[{"item_id": 1, "quantity": 3}], bonus_to_use=338), 1000) == (
        "Maximum 337 bonuses can be used for this order"
    )
    assert problem(request(bonus_to_use=50), 49) == "Insufficient bonus balance. Available: 49"
    spent = quote(
        MENU, request(items=[{"item_id": 1, "quantity": 2}], bonus_to_use=200), 500, RULES
    )
    assert (spent.total, spent.bonuses_to_earn) == (700, 21)  # earn on what is paid: 3% of 700
    small = quote(MENU, request(items=[{"item_id": 2, "quantity": 5}]), 0, RULES)
    assert (small.total, small.bonuses_to_earn) == (450, 0)  # under 500: nothing earned


def test_problems() -> None:
    assert problem(request(city_id=9)) == "Unknown city_id 9"
    assert problem(request(branch_id=2)) == (
        "branch_id must name a branch of the order's city for pickup"
    )
    assert problem(request(branch_id=None)) == (
        "branch_id must name a branch of the order's city for pickup"
    )
    assert problem(request(order_type="delivery", delivery_street=" ")) == (
        "delivery_street and delivery_house are required for delivery"
    )
    assert problem(request(items=[{"item_id": 7, "quantity": 1}])) == "Unknown item_id 7"
    assert problem(request(city_id=2, branch_id=2, items=[{"item_id": 2, "quantity": 1}])) == (
        "Item 2 is not sold in this city"
    )
    assert problem(request(items=[{"item_id": 1, "quantity": 1, "modifiers": [2]}])) == (
        "Modifier 2 is not available for item 1"
    )
    assert problem(request(items=[{"item_id": 1, "quantity": 1, "modifiers": [1, 1]}])) == (
        "Item 1 lists a modifier twice"
    )
