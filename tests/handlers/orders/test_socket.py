"""The `/?token=` socket: 401 before the upgrade, rooms by role, forbidden rooms, bad frames."""

from __future__ import annotations

import json

import httpx
import pytest
from trio_websocket import ConnectionRejected, open_websocket_url

import settings
from tests.orders_clients import customer, make_staff, order_body, orders_socket, staff_token


@pytest.mark.parametrize("query", ["", "?token=", "?token=not-a-jwt", "?tok=x"])
async def test_no_valid_token_is_401_before_the_upgrade(ws_port: int, query: str) -> None:
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(f"ws://127.0.0.1:{ws_port}/{query}"):
            pass
    assert rejected.value.status_code == 401


async def test_connected_ping_and_bad_frames(http: httpx.AsyncClient, ws_port: int) -> None:
    token, user = await customer(http, 2001)
    async with open_websocket_url(f"ws://127.0.0.1:{ws_port}/?token={token}") as socket:
        assert json.loads(await socket.get_message()) == {
            "type": "connected",
            "data": {"userId": user["id"], "role": "user"},
        }
        await socket.send_message('{"type":"ping"}')
        assert await socket.get_message() == '{"type":"pong"}'
        answers = {
            "not json": {"message": "Invalid message format"},
            "[]": {"message": "Invalid message format"},
            '{"data": {}}': {"message": "Invalid message format"},
            '{"type": "dance"}': {"message": "Unknown message type"},
            '{"type": "join-room"}': {"message": "Invalid data for join-room"},
            '{"type": "join-room", "data": {"roomId": 5}}': {
                "message": "Invalid data for join-room"
            },
        }
        for frame, data in answers.items():
            await socket.send_message(frame)
            assert json.loads(await socket.get_message()) == {"type": "error", "data": data}
        await socket.send_message('{"type":"ping","data":{"anything":1}}')
        assert await socket.get_message() == '{"type":"pong"}'


async def test_forbidden_rooms_join_nothing(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    database = config.storage.path
    token, _ = await customer(http, 3001)
    other_token, other = await customer(http, 3002)
    make_staff(database, "admin@example.com", "admin")
    make_staff(database, "m2@example.com", "manager", (2,))
    admin_token = await staff_token(http, "admin@example.com")
    async with (
        orders_socket(ws_port, token) as snoop,
        orders_socket(ws_port, await staff_token(http, "m2@example.com")) as manager_two,
    ):
        for room in ("admin-orders", f"user-{other['id']}", "city-1-orders", "city-01-orders", "x"):
            await snoop.send({"type": "join-room", "data": {"roomId": room}})
            assert await snoop.expect("error") == {"message": "forbidden", "roomId": room}
        await manager_two.send({"type": "join-room", "data": {"roomId": "city-1-orders"}})
        assert await manager_two.expect("error") == {
            "message": "forbidden",
            "roomId": "city-1-orders",
        }
        await manager_two.send({"type": "join-room", "data": {"roomId": "admin-orders"}})
        assert (await manager_two.expect("error"))["message"] == "forbidden"
        # Many events in those rooms: none reaches them.
        for _ in range(5):
            placed = await http.post(
                "/api/orders", json=order_body(), headers={"Authorization": f"Bearer {other_token}"}
            )
            assert placed.status_code == 201
            await http.put(
                f"/api/orders/admin/{placed.json()['order']['id']}/status",
                json={"status": "confirmed"},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
        await snoop.silent()
        await manager_two.silent()


async def test_staff_may_join_what_they_oversee_and_leave(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    database = config.storage.path
    buyer, _ = await customer(http, 4001)
    make_staff(database, "admin@example.com", "admin")
    make_staff(database, "m12@example.com", "manager", (1, 2))
    admin_token = await staff_token(http, "admin@example.com")
    async with (
        orders_socket(ws_port, admin_token) as admin,
        orders_socket(ws_port, await staff_token(http, "m12@example.com")) as manager,
    ):
        await admin.send({"type": "join-room", "data": {"roomId": "city-1-orders"}})
        await admin.send({"type": "ping"})
        assert await admin.expect("pong") is None  # joined: no answer but the next one's
        await manager.send({"type": "leave-room", "data": {"roomId": "city-1-orders"}})
        await manager.send({"type": "join-room", "data": {"roomId": "city-2-orders"}})
        await manager.send({"type": "ping"})
        await manager.expect("pong")
        placed = await http.post(
            "/api/orders", json=order_body(), headers={"Authorization": f"Bearer {buyer}"}
        )
        assert placed.status_code == 201
        # In admin-orders and city-1-orders: the new order arrives once.
        assert (await admin.expect("new-order"))["id"] == placed.json()["order"]["id"]
        await admin.expect("sync-success")
        await admin.silent()
        await manager.silent()  # it left city 1's room
