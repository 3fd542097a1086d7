"""Pricing an order and the bonus rules, as ../shared/spec/orders.md states them: pure.

`quote` turns a validated `OrderRequest` into amounts, or raises `OrderProblem`
with the message the client gets (400). Amounts are integers in the smallest
currency unit.

Bonus rules: spend at most floor(spend% of the subtotal) and at most the
balance; earn floor(earn% of the total) when the total reaches the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from handlers.orders.menu import Menu

Id = Annotated[int, msgspec.Meta(ge=1, le=2**31)]
Text = Annotated[str, msgspec.Meta(max_length=500)]


class Line(msgspec.Struct):
    item_id: Id
    quantity: Annotated[int, msgspec.Meta(ge=1, le=99)]
    modifiers: Annotated[list[Id], msgspec.Meta(max_length=20)] = []


class OrderRequest(msgspec.Struct, kw_only=True):
    city_id: Id
    order_type: Literal["delivery", "pickup"]
    items: Annotated[list[Line], msgspec.Meta(min_length=1, max_length=50)]
    payment_method: Literal["cash", "card"]
    branch_id: Id | None = None
    delivery_street: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    delivery_house: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    comment: Text | None = None
    desired_time: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    change_from: Annotated[int, msgspec.Meta(ge=0, le=10**9)] | None = None
    bonus_to_use: Annotated[int, msgspec.Meta(ge=0, le=10**9)] = 0


class OrderProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BonusRules:
    spend_percent: int
    earn_percent: int
    earn_from: int

    def spendable(self, subtotal: int) -> int:
        return subtotal * self.spend_percent // 100

    def earned(self, total: int) -> int:
        return total * self.earn_percent // 100 if total >= self.earn_from else 0


@dataclass(frozen=True)
class QuotedLine:
    item_id: int
    name: str
    quantity: int
    unit_price: int  # menu price plus modifiers
    modifiers: list[dict[str, Any]]  # [{id, name, price}]

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity

    def view(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "name": self.name,
            "quantity": self.quantity,
            "price": self.unit_price,
            "modifiers": self.modifiers,
            "total": self.total,
        }


@dataclass(frozen=True)
class Quote:
    subtotal: int
    delivery_cost: int
    bonus_used: int
    total: int
    bonuses_to_earn: int
    lines: list[QuotedLine]

    def view(self) -> dict[str, Any]:
        return {
            "subtotal": self.subtotal,
            "delivery_cost": self.delivery_cost,
            "bonus_used": self.bonus_used,
            "total": self.total,
            "bonuses_to_earn": self.bonuses_to_earn,
            "items": [line.view() for line in self.lines],
        }


def quote(menu: Menu, request: OrderRequest, balance: int, rules: BonusRules) -> Quote:
    city = menu.cities.get(request.city_id)
    if city is None:
        raise OrderProblem(f"Unknown city_id {request.city_id}")
    if request.order_type == "pickup":
        branch = menu.branches.get(request.branch_id or 0)
        if branch is None or branch.city_id != city.id:
            raise OrderProblem("branch_id must name a branch of the order's city for pickup")
    elif not (request.delivery_street or "").strip() or not (request.delivery_house or "").strip():
        raise OrderProblem("delivery_street and delivery_house are required for delivery")
    lines = [_line(menu, city.id, line) for line in request.items]
    subtotal = sum(line.total for line in lines)
    delivery_cost = 0
    if request.order_type == "delivery":
        free = city.free_delivery_from is not None and subtotal >= city.free_delivery_from
        delivery_cost = 0 if free else city.delivery_cost
    used = request.bonus_to_use
    if used > balance:
        raise OrderProblem(f"Insufficient bonus balance. Available: {balance}")
    most = rules.spendable(subtotal)
    if used > most:
        raise OrderProblem(f"Maximum {most} bonuses can be used for this order")
    total = subtotal + delivery_cost - used
    return Quote(subtotal, delivery_cost, used, total, rules.earned(total), lines)


def _line(menu: Menu, city_id: int, line: Line) -> QuotedLine:
    item = menu.items.get(line.item_id)
    if item is None:
        raise OrderProblem(f"Unknown item_id {line.item_id}")
    price = item.prices.get(city_id)
    if price is None:
        raise OrderProblem(f"Item {item.id} is not sold in this city")
    if len(set(line.modifiers)) != len(line.modifiers):
        raise OrderProblem(f"Item {item.id} lists a modifier twice")
    chosen = []
    for modifier_id in line.modifiers:
        modifier = menu.modifiers.get(modifier_id)
        if modifier is None or modifier_id not in item.modifiers:
            raise OrderProblem(f"Modifier {modifier_id} is not available for item {item.id}")
        chosen.append(modifier)
    unit = price + sum(modifier.price for modifier in chosen)
    views = [{"id": m.id, "name": m.name, "price": m.price} for m in chosen]
    return QuotedLine(item.id, item.name, line.quantity, unit, views)
