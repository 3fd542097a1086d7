"""The orders app's rooms and server events, with the recipients orders.md gives them.

Protocol room names (`admin-orders`, `city-1-orders`, `user-5`) live in the
hub under the prefix `orders:`, apart from other apps' rooms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from handlers.orders import store
from handlers.timestamps import now_iso
from realtime.connection import Connection
from realtime.hub import Hub

ADMIN_ROOM = "admin-orders"


def city_room(city_id: int) -> str:
    return f"city-{city_id}-orders"


def user_room(user_id: int) -> str:
    return f"user-{user_id}"


def hub_room(name: str) -> str:
    return f"orders:{name}"


def rooms_of(person: store.Person) -> list[str]:
    """The rooms a connection joins by itself, by its user's role."""
    rooms = [user_room(person.id)]
    if person.sees_everything:
        rooms.append(ADMIN_ROOM)
    elif person.role == "manager":
        rooms.extend(city_room(city) for city in person.cities)
    return rooms


def may_join(person: store.Person, room: str) -> bool:
    """Whether `person` is entitled to `room`: their own, and what their role oversees."""
    if room == user_room(person.id):
        return True
    city = _city_of(room)
    if person.sees_everything:
        return room == ADMIN_ROOM or city is not None
    return person.role == "manager" and city in person.cities


def _city_of(room: str) -> int | None:
    """The city of a `city-<id>-orders` room name."""
    parts = room.split("-")
    if len(parts) == 3 and parts[1].isdecimal() and room == city_room(int(parts[1])):
        return int(parts[1])
    return None


class Events:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def join(self, connection: Connection, room: str) -> None:
        self._hub.join(connection, hub_room(room))

    def leave(self, connection: Connection, room: str) -> None:
        self._hub.leave(connection, hub_room(room))

    def publish(self, rooms: Iterable[str], event: str, data: Any) -> None:
        self._hub.push([hub_room(room) for room in rooms], event, data)

    def order_created(self, created: store.Created) -> None:
        order, user_id = created.order, created.order["user_id"]
        for change in created.bonus_changes:  # "used" before "earned"
            self.bonus_updated(user_id, change)
        self.publish([ADMIN_ROOM, city_room(order["city_id"])], "new-order", order)
        self.publish([user_room(user_id)], "order-created", order)

    def status_changed(self, change: store.StatusChange) -> None:
        order = change.order
        self.publish(
            [user_room(order["user_id"]), ADMIN_ROOM, city_room(order["city_id"])],
            "order-status-updated",
            {
                "orderId": order["id"],
                "newStatus": order["status"],
                "oldStatus": change.old_status,
                "timestamp": order["updated_at"],
            },
        )
        for bonus in change.bonus_changes:
            self.bonus_updated(order["user_id"], bonus)

    def bonus_updated(self, user_id: int, change: store.BonusChange) -> None:
        self.publish(
            [user_room(user_id)],
            "bonus-updated",
            {
                "balance": change.balance,
                "operation": {
                    "type": change.type,
                    "amount": change.amount,
                    "orderId": change.order_id,
                },
                "timestamp": now_iso(),
            },
        )

    def synced(self, job: store.Job, error: str | None) -> None:
        data: dict[str, Any] = {"entity": "order", "entityId": job.order_id}
        if error is not None:
            data["error"] = error
        data["timestamp"] = now_iso()
        event = "sync-success" if error is None else "sync-error"
        self.publish([ADMIN_ROOM, city_room(job.city_id)], event, data)
