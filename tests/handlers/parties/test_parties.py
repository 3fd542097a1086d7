"""Parties: a whole party over REST and the event WebSocket, and every refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
)

import settings
from server import STORAGE_UNAVAILABLE
from tests.clients import close_code

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
_phones = iter(range(9000000000, 9999999999))


async def person(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "phone": str(next(_phones)),
        "password": "party hard",
        "confirmPassword": "party hard",
    }
    answer = (await http.post("/api/v1/users/create", json=body)).json()
    assert answer["isSuccess"], answer
    result: dict[str, Any] = answer["result"]
    return result


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['accessToken']}"}


def codes(answer: httpx.Response) -> list[str]:
    body = answer.json()
    assert answer.status_code == 200 and body["isSuccess"] is False and body["result"] is None
    return [error["errorCode"] for error in body["errors"]]


class Guest:
    def __init__(self, socket: WebSocketConnection) -> None:
        self.socket = socket

    async def next(self) -> tuple[str, Any]:
        with trio.fail_after(5):
            frame = str(await self.socket.get_message())
        name, _, payload = frame.partition("/")
        return name, (json.loads(payload) if payload.startswith("{") else payload)

    async def expect(self, name: str) -> Any:
        got, payload = await self.next()
        assert got == name, (got, payload)
        return payload

    async def silent(self, seconds: float = 0.3) -> None:
        with trio.move_on_after(seconds):
            frame = await self.socket.get_message()
            raise AssertionError(f"unexpected frame {frame!r}")


@asynccontextmanager
async def guest(port: int, user: dict[str, Any], event_id: str) -> AsyncIterator[Guest]:
    url = f"ws://127.0.0.1:{port}/api/v1/websockets/event?accessToken={user['accessToken']}&eventId={event_id}"
    async with open_websocket_url(url) as socket:
        yield Guest(socket)


async def test_a_party(http: httpx.AsyncClient, ws_port: int) -> None:
    owner, alice, bob = (
        await person(http, "Owner"),
        await person(http, "Alice"),
        await person(http, "Bob"),
    )
    created = await http.post(
        "/api/v1/events/create",
        json={"name": "Rooftop", "address": "Main st 1", "coordinates": {"x": 10.5, "y": -3}},
        headers=auth(owner),
    )
    event = created.json()["result"]
    event_id = event["id"]
    assert event == {
        "id": event_id,
        "ownerId": owner["id"],
        "name": "Rooftop",
        "address": "Main st 1",
        "coordinates": {"x": 10.5, "y": -3},
        "usersCount": 0,
        "media": [],
        "chatMessages": [],
    }

    def updated(count: int) -> dict[str, Any]:
        return {
            "eventId": event_id,
            "name": "Rooftop",
            "address": "Main st 1",
            "usersCount": count,
            "coordinates": {"x": 10.5, "y": -3},
        }

    async with guest(ws_port, alice, event_id) as alice_phone:
        assert await alice_phone.expect("eventUpdated") == updated(1)
        async with guest(ws_port, alice, event_id) as alice_laptop:  # the same user again
            for socket in (alice_phone, alice_laptop):
                assert await socket.expect("eventUpdated") == updated(1)
            async with guest(ws_port, bob, event_id) as bob_phone:
                for socket in (alice_phone, alice_laptop, bob_phone):
                    assert await socket.expect("eventUpdated") == updated(2)
                await bob_phone.socket.send_message("chatMessage/  hello party  ")
                said = {
                    "userId": bob["id"],
                    "userName": "Bob",
                    "userImageId": None,
                    "message": "hello party",
                }
                for socket in (alice_phone, alice_laptop, bob_phone):
                    assert await socket.expect("chatMessage") == said
                # Not for the protocol: ignored, and nothing is broadcast.
                for frame in (
                    "no slash here",
                    "dance/now",
                    "chatMessage/   ",
                    "chatMessage/" + "x" * 2001,
                    "chatMessage/\u0000nul",
                ):
                    await bob_phone.socket.send_message(frame)
                added = await http.post(
                    "/api/v1/events/media/add",
                    data={"eventId": event_id},
                    files={"media": ("roof.png", PNG, "image/png")},
                    headers=auth(owner),
                )
                media_id = added.json()["result"]
                for socket in (alice_phone, alice_laptop, bob_phone):
                    assert await socket.expect("mediaAdded") == media_id
                await http.post(
                    "/api/v1/events/update",
                    json={
                        "eventId": event_id,
                        "address": "Main st 2",
                        "coordinates": {"x": 1, "y": 2},
                    },
                    headers=auth(owner),
                )
                moved = updated(2) | {"address": "Main st 2", "coordinates": {"x": 1, "y": 2}}
                for socket in (alice_phone, alice_laptop, bob_phone):
                    assert await socket.expect("eventUpdated") == moved
                removed = await http.post(
                    "/api/v1/events/media/remove",
                    json={"eventId": event_id, "mediaId": media_id},
                    headers=auth(owner),
                )
                assert removed.json() == {"isSuccess": True, "errors": None, "result": None}
                for socket in (alice_phone, alice_laptop, bob_phone):
                    assert await socket.expect("mediaRemoved") == media_id
            for socket in (alice_phone, alice_laptop):  # Bob left
                assert await socket.expect("eventUpdated") == moved | {"usersCount": 1}
        assert await alice_phone.expect("eventUpdated") == moved | {
            "usersCount": 1
        }  # a device left

        got = (await http.post("/api/v1/events/get", json={"eventId": event_id})).json()["result"]
        assert got["chatMessages"] == [said]
        assert (got["usersCount"], got["media"]) == (1, [])

        refused = await http.post(
            "/api/v1/events/close", json={"eventId": event_id}, headers=auth(alice)
        )
        assert codes(refused) == ["UserIsNotOwner"]
        await alice_phone.silent()
        closed = await http.post(
            "/api/v1/events/close", json={"eventId": event_id}, headers=auth(owner)
        )
        assert closed.json()["isSuccess"]
        assert await alice_phone.expect("closeEvent") == ""
        with pytest.raises(ConnectionClosed) as ended, trio.fail_after(5):
            await alice_phone.socket.get_message()
        assert close_code(ended.value) == 1000
    with pytest.raises(ConnectionRejected) as rejected:
        async with guest(ws_port, alice, event_id):
            pass
    assert rejected.value.status_code == 404


async def test_checks_before_the_upgrade(http: httpx.AsyncClient, ws_port: int) -> None:
    owner = await person(http, "Owner")
    event_id = (
        await http.post(
            "/api/v1/events/create",
            json={"name": "P", "address": "A", "coordinates": {"x": 0, "y": 0}},
            headers=auth(owner),
        )
    ).json()["result"]["id"]
    base = f"ws://127.0.0.1:{ws_port}/api/v1/websockets/event"
    for query, status in (
        (f"accessToken={owner['accessToken']}&eventId=not-a-uuid", 400),
        (f"accessToken=&eventId={event_id}", 401),
        (f"accessToken=junk&eventId={event_id}", 401),
        (f"accessToken={owner['accessToken']}&eventId={uuid.uuid4()}", 404),
    ):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(f"{base}?{query}"):
                pass
        assert rejected.value.status_code == status, query
    async with guest(ws_port, owner, event_id) as socket:
        await socket.expect("eventUpdated")
        await socket.socket.send_message(b"binary")
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            while True:
                await socket.socket.get_message()
        assert close_code(closed.value) == 1003


async def test_chat_is_rate_limited(http: httpx.AsyncClient, ws_port: int) -> None:
    owner = await person(http, "Owner")
    event_id = (
        await http.post(
            "/api/v1/events/create",
            json={"name": "P", "address": "A", "coordinates": {"x": 0, "y": 0}},
            headers=auth(owner),
        )
    ).json()["result"]["id"]
    async with guest(ws_port, owner, event_id) as socket:
        await socket.expect("eventUpdated")
        for n in range(20):
            await socket.socket.send_message(f"chatMessage/{n}")
        heard = []
        with trio.move_on_after(0.5):
            while True:
                heard.append((await socket.expect("chatMessage"))["message"])
        assert heard == ["0", "1", "2", "3", "4"]  # a burst of five, then two a second


async def test_users_and_validation_codes(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    def create(**fields: Any) -> dict[str, Any]:
        return {
            "name": "Ann",
            "phone": "9990001111",
            "password": "party hard",
            "confirmPassword": "party hard",
        } | fields

    assert codes(
        await http.post(
            "/api/v1/users/create",
            json=create(name=" ", phone="12345", password="short", confirmPassword="other"),
        )
    ) == [
        "NameIsEmpty",
        "PhoneRegexInvalid",
        "PasswordLengthInvalid",
        "ConfirmPasswordInvalid",
    ]
    control = create(name="\u0000Ann", phone="9990003333")
    assert codes(await http.post("/api/v1/users/create", json=control)) == ["NameIsInvalid"]
    made = (await http.post("/api/v1/users/create", json=create())).json()["result"]
    assert set(made) == {"id", "name", "phone", "imageId", "eventId", "accessToken"}
    assert (made["name"], made["phone"], made["imageId"], made["eventId"]) == (
        "Ann",
        "9990001111",
        None,
        None,
    )
    assert codes(await http.post("/api/v1/users/create", json=create(name="Other"))) == [
        "PhoneAlreadyUse"
    ]
    assert codes(
        await http.post("/api/v1/users/create", json=create(phone="9990002222", name="ann"))
    ) == ["NameAlreadyUse"]
    assert codes(
        await http.post(
            "/api/v1/users/create", content=b"{", headers={"content-type": "application/json"}
        )
    ) == ["InvalidRequestBody"]
    login = await http.post(
        "/api/v1/users/login", json={"phone": "9990001111", "password": "party hard"}
    )
    assert login.json()["result"]["id"] == made["id"]
    assert codes(
        await http.post(
            "/api/v1/users/login", json={"phone": "9990001111", "password": "wrong pass"}
        )
    ) == ["InvalidPassword"]
    assert codes(
        await http.post(
            "/api/v1/users/login", json={"phone": "9990009999", "password": "party hard"}
        )
    ) == ["UserNotFound"]
    assert codes(await http.post("/api/v1/users/update", json={"name": "Zed"})) == ["unauthorized"]
    renamed = await http.post("/api/v1/users/update", json={"name": "Zed"}, headers=auth(made))
    token = renamed.json()["result"]["accessToken"]
    again = await http.post(
        "/api/v1/users/login", json={"phone": "9990001111", "password": "party hard"}
    )
    assert again.json()["result"]["name"] == "Zed"
    changed = await http.post(
        "/api/v1/users/password/change",
        json={"password": "new secret", "confirmPassword": "new secret"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.json()["isSuccess"]
    assert codes(
        await http.post(
            "/api/v1/users/login", json={"phone": "9990001111", "password": "party hard"}
        )
    ) == ["InvalidPassword"]
    images = []
    for _ in range(2):
        image = await http.post(
            "/api/v1/users/media/set",
            files={"image": ("me.png", PNG, "image/png")},
            headers=auth(made),
        )
        assert set(image.json()["result"]) == {"imageId", "accessToken"}
        images.append(image.json()["result"]["imageId"])
    # A new image replaces the old one: its file and its row are gone.
    assert [(await http.get(f"/api/v1/media/{i}")).status_code for i in images] == [404, 200]
    assert [path.name for path in (Path(config.storage.path).parent / "media").iterdir()] == [
        images[1]
    ]


async def test_events_range_and_one_open_event(http: httpx.AsyncClient) -> None:
    owners = [await person(http, f"Host{n}") for n in range(3)]
    places = [(0, 0), (5, 5), (-20, 3)]
    ids = []
    for owner, (x, y) in zip(owners, places, strict=True):
        answer = await http.post(
            "/api/v1/events/create",
            json={"name": "P", "address": "A", "coordinates": {"x": x, "y": y}},
            headers=auth(owner),
        )
        ids.append(answer.json()["result"]["id"])
    again = await http.post(
        "/api/v1/events/create",
        json={"name": "P2", "address": "A", "coordinates": {"x": 1, "y": 1}},
        headers=auth(owners[0]),
    )
    assert codes(again) == ["OwnerAlreadyHasEvent"]

    async def found(h: float, v: float, x: float, y: float) -> set[str]:
        answer = await http.post(
            "/api/v1/events/range",
            json={"horizontalRange": h, "verticalRange": v, "coordinates": {"x": x, "y": y}},
        )
        return {event["id"] for event in answer.json()["result"]}

    assert await found(2, 2, 0, 0) == {ids[0]}
    assert await found(10, 10, 0, 0) == {ids[0], ids[1]}  # x within 0 +- 5
    assert await found(9.9, 10, 0, 0) == {ids[0]}
    assert await found(100, 100, 0, 0) == set(ids)
    assert await found(2, 2, 50, 50) == set()
    await http.post("/api/v1/events/close", json={"eventId": ids[1]}, headers=auth(owners[1]))
    assert await found(100, 100, 0, 0) == {ids[0], ids[2]}  # closed ones are not found
    assert codes(await http.post("/api/v1/events/range", json={"coordinates": {"x": 1}})) == [
        "CoordinatesIsEmpty"
    ]
    reopened = await http.post(
        "/api/v1/events/create",
        json={"name": "P", "address": "A", "coordinates": {"x": 5, "y": 5}},
        headers=auth(owners[1]),
    )
    assert reopened.json()["isSuccess"]  # after closing, a new one
    assert codes(
        await http.post(
            "/api/v1/events/create", json={"name": "", "address": " "}, headers=auth(owners[2])
        )
    ) == [
        "NameIsEmpty",
        "AddressIsEmpty",
        "CoordinatesIsEmpty",
    ]
    for body, expected in (
        ({"eventId": "nope"}, ["InvalidIdFormat"]),
        ({"eventId": str(uuid.uuid4())}, ["EventNotFound"]),
    ):
        assert codes(await http.post("/api/v1/events/get", json=body)) == expected
    assert codes(
        await http.post(
            "/api/v1/events/update",
            json={"eventId": ids[0], "address": "B", "coordinates": {"x": 0, "y": 0}},
            headers=auth(owners[2]),
        )
    ) == ["UserIsNotOwner"]


@pytest.mark.settings(parties={"max_media_bytes": 100_000})
async def test_media(http: httpx.AsyncClient, config: settings.Settings) -> None:
    owner, other = await person(http, "Owner"), await person(http, "Other")
    uploaded = await http.post(
        "/api/v1/media", files={"file": ("a.png", PNG, "image/png")}, headers=auth(owner)
    )
    media_id = uploaded.json()["result"]
    got = await http.get(f"/api/v1/media/{media_id}")
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, PNG, "image/png")
    meta = (await http.get(f"/api/v1/media/metadata/{media_id}")).json()["result"]
    assert meta == {"id": media_id, "name": "a.png", "size": len(PNG), "contentType": "image/png"}
    media_dir = Path(config.storage.path).parent / "media"
    before = sorted(path.name for path in media_dir.iterdir())
    for files, code in (
        ({"file": ("a.html", b"<script>", "text/html")}, "MediaTypeInvalid"),
        ({"file": ("fake.png", b"<html>not a png", "image/png")}, "MediaTypeInvalid"),
        ({"file": ("big.png", PNG + b"0" * 100_000, "image/png")}, "MediaTooLarge"),
    ):
        refused = await http.post("/api/v1/media", files=files, headers=auth(owner))
        assert codes(refused) == [code]
    # Far over the request limit: refused before the body is read.
    huge = await http.post(
        "/api/v1/media",
        files={"file": ("huge.png", PNG + b"0" * 3_000_000, "image/png")},
        headers=auth(owner),
    )
    assert codes(huge) == ["MediaTooLarge"]
    assert sorted(path.name for path in media_dir.iterdir()) == before  # nothing left behind
    assert codes(await http.post("/api/v1/media", files={"file": ("a.png", PNG, "image/png")})) == [
        "unauthorized"
    ]
    assert codes(await http.delete(f"/api/v1/media/{media_id}", headers=auth(other))) == [
        "UserIsNotOwner"
    ]
    assert (await http.delete(f"/api/v1/media/{media_id}", headers=auth(owner))).json()["isSuccess"]
    assert (await http.get(f"/api/v1/media/{media_id}")).status_code == 404
    assert codes(await http.get(f"/api/v1/media/metadata/{media_id}")) == ["MediaNotFound"]
    assert (await http.get("/health")).json()["isSuccess"]


@pytest.mark.settings(parties={"max_event_media": 2})
async def test_an_event_shows_at_most_max_event_media(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    owner = await person(http, "Collector")
    created = await http.post(
        "/api/v1/events/create",
        json={"name": "P", "address": "A", "coordinates": {"x": 0, "y": 0}},
        headers=auth(owner),
    )
    event_id = created.json()["result"]["id"]

    async def add() -> httpx.Response:
        return await http.post(
            "/api/v1/events/media/add",
            data={"eventId": event_id},
            files={"media": ("p.png", PNG, "image/png")},
            headers=auth(owner),
        )

    shown = {(await add()).json()["result"] for _ in range(2)}
    media_dir = Path(config.storage.path).parent / "media"
    files = sorted(path.name for path in media_dir.iterdir())
    assert codes(await add()) == ["TooManyMedia"]
    assert sorted(path.name for path in media_dir.iterdir()) == files  # nothing left behind
    got = (await http.post("/api/v1/events/get", json={"eventId": event_id})).json()["result"]
    assert {media["id"] for media in got["media"]} == shown
    removed = await http.post(
        "/api/v1/events/media/remove",
        json={"eventId": event_id, "mediaId": shown.pop()},
        headers=auth(owner),
    )
    assert removed.json()["isSuccess"]
    assert (await add()).json()["isSuccess"]  # room again


BIG_PNG = PNG + b"\x00" * 1000


@pytest.mark.settings(
    parties={"max_user_media": 3, "max_user_media_bytes": 2 * len(BIG_PNG) + len(PNG)}
)
async def test_each_user_keeps_at_most_their_quota(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    """Past either of the quota's bounds every upload route answers MediaQuotaExceeded and
    keeps no file; the quota is each user's own; uploads sent at once cannot overshoot it
    together; a deleted file makes room again."""
    owner, other = await person(http, "Hoarder"), await person(http, "Neighbour")
    media_dir = Path(config.storage.path).parent / "media"

    async def upload(user: dict[str, Any], content: bytes, route: str = "/api/v1/media") -> Any:
        field = {"/api/v1/media": "file", "/api/v1/users/media/set": "image"}[route]
        answer = await http.post(
            route, files={field: ("a.png", content, "image/png")}, headers=auth(user)
        )
        return answer.json()["result"] if answer.json()["isSuccess"] else codes(answer)

    first = await upload(owner, BIG_PNG)
    await upload(owner, BIG_PNG)
    refused = ["MediaQuotaExceeded"]
    assert await upload(owner, BIG_PNG) == refused  # bytes: one big file too many
    assert isinstance(await upload(owner, PNG), str)  # exactly at both bounds
    created = await http.post(
        "/api/v1/events/create",
        json={"name": "P", "address": "A", "coordinates": {"x": 0, "y": 0}},
        headers=auth(owner),
    )
    event_id = created.json()["result"]["id"]
    added = await http.post(
        "/api/v1/events/media/add",
        data={"eventId": event_id},
        files={"media": ("p.png", PNG, "image/png")},
        headers=auth(owner),
    )
    assert codes(added) == refused  # files: a fourth
    assert await upload(owner, PNG, "/api/v1/users/media/set") == refused
    assert len(list(media_dir.iterdir())) == 3  # nothing left behind

    at_once: list[Any] = []

    async def one() -> None:
        at_once.append(await upload(other, PNG))

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(one)
    kept = [answer for answer in at_once if isinstance(answer, str)]
    assert (len(kept), at_once.count(refused)) == (3, 3)
    assert len(list(media_dir.iterdir())) == 6

    assert (await http.delete(f"/api/v1/media/{first}", headers=auth(owner))).json()["isSuccess"]
    assert isinstance(await upload(owner, BIG_PNG), str)  # room again


@pytest.mark.settings(parties={"media_keep_free_bytes": 2**62})
async def test_uploads_leave_the_database_its_disk(
    http: httpx.AsyncClient, config: settings.Settings
) -> None:
    owner = await person(http, "Hoarder")
    for route, field in (("/api/v1/media", "file"), ("/api/v1/users/media/set", "image")):
        refused = await http.post(
            route, files={field: ("a.png", PNG, "image/png")}, headers=auth(owner)
        )
        assert (refused.status_code, refused.headers["Retry-After"], refused.json()) == (
            503,
            "1",
            {"error": "Service Unavailable", "message": STORAGE_UNAVAILABLE},
        )
    assert not any((Path(config.storage.path).parent / "media").iterdir())  # nothing kept
    created = await http.post(
        "/api/v1/events/create",
        json={"name": "P", "address": "A", "coordinates": {"x": 0, "y": 0}},
        headers=auth(owner),
    )
    assert created.json()["isSuccess"]  # the database still takes writes
