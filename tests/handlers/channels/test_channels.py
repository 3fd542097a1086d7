"""The channels app: REST exactly as channels.md, and the original's own socket scenarios
(with python-socketio's client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt

from handlers.accounts import TokenCodec
from server import Running
from tests.conftest import TEST_SECRETS
from tests.sio_clients import Client


async def _signup(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await http.post(
        "/signup", json={"user": {"email": email, "password": "correct horse"}}
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["user"]
    return user


def _bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['accessToken']}"}


@asynccontextmanager
async def authed(server: Running, user: dict[str, Any]) -> AsyncIterator[Client]:
    client = Client()
    await client.connect(f"http://127.0.0.1:{server.http_port}")
    await client.emit("auth", {"token": user["accessToken"]})
    assert (await client.expect("auth-success"))["userId"] == user["id"]
    try:
        yield client
    finally:
        await client.disconnect()


async def test_accounts(http: httpx.AsyncClient) -> None:
    user = await _signup(http, "team@example.com")
    assert set(user) == {"id", "email", "accessToken", "refreshToken"}  # never a password hash
    claims = jwt.decode(
        user["accessToken"],
        TEST_SECRETS["access_token"],
        algorithms=["HS256"],
        audience="hearth-clients",
    )
    assert claims["exp"] - claims["iat"] == 300  # 5 minutes
    taken = await http.post(
        "/signup", json={"user": {"email": "team@example.com", "password": "correct horse"}}
    )
    assert (taken.status_code, taken.json()) == (
        400,
        {"statusCode": 400, "message": "Email is already taken", "error": "Bad Request"},
    )
    assert (await http.post("/signup", json={"email": "x@y.z"})).status_code == 400
    signed = await http.post(
        "/signin", json={"credentials": {"email": "team@example.com", "password": "correct horse"}}
    )
    assert signed.status_code == 200 and signed.json()["user"]["id"] == user["id"]
    wrong = await http.post(
        "/signin", json={"credentials": {"email": "team@example.com", "password": "wrong horse"}}
    )
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Email or password are invalid")
    pair = {"accessToken": user["accessToken"], "refreshToken": user["refreshToken"]}
    refreshed = await http.post("/refresh_token", json=pair)
    assert refreshed.status_code == 200 and set(refreshed.json()) == {"accessToken", "refreshToken"}
    again = await http.post("/refresh_token", json=pair)  # spent
    assert (again.status_code, again.json()["message"]) == (401, "Invalid or expired tokens")
    other = await _signup(http, "other@example.com")
    mixed = {"accessToken": other["accessToken"], "refreshToken": refreshed.json()["refreshToken"]}
    assert (await http.post("/refresh_token", json=mixed)).status_code == 401
    assert (await http.get("/status")).text == "OK"


async def test_workspaces_channels_and_members(http: httpx.AsyncClient) -> None:
    admin = await _signup(http, "admin@example.com")
    guest = await _signup(http, "guest@example.com")
    outsider = await _signup(http, "outsider@example.com")
    created = await http.post("/workspaces", json={"name": "Team"}, headers=_bearer(admin))
    workspace = created.json()["workspace"]
    assert (created.status_code, workspace["name"], workspace["creator_id"]) == (
        201,
        "Team",
        admin["id"],
    )
    for name in ("ab", "x" * 101, "\u0000abc", "tab\there"):
        response = await http.post("/workspaces", json={"name": name}, headers=_bearer(admin))
        assert response.status_code == 400
    assert (await http.post("/workspaces", json={"name": "Team"})).status_code == 401
    path = f"/workspaces/{workspace['id']}"
    channel = await http.post(f"{path}/channels", json={"name": "random"}, headers=_bearer(admin))
    assert channel.json() == {
        "channel": {
            "id": channel.json()["channel"]["id"],
            "name": "random",
            "is_private": False,
            "workspace_id": workspace["id"],
            "creator_id": admin["id"],
        }
    }
    duplicate = await http.post(
        f"{path}/channels", json={"name": "general"}, headers=_bearer(admin)
    )
    assert duplicate.status_code == 400  # the workspace's own general channel
    refused = await http.post(f"{path}/channels", json={"name": "mine"}, headers=_bearer(outsider))
    assert (refused.status_code, refused.json()["message"]) == (401, "UserCanNotCreateChannels")
    added = await http.post(
        f"{path}/members", json={"userId": guest["id"], "role": "guest"}, headers=_bearer(admin)
    )
    assert added.json() == {
        "member": {"workspace_id": workspace["id"], "user_id": guest["id"], "role": "guest"}
    }
    as_guest = await http.post(
        f"{path}/channels", json={"name": "guest room"}, headers=_bearer(guest)
    )
    assert (as_guest.status_code, as_guest.json()["message"]) == (401, "UserCanNotCreateChannels")
    not_admin = await http.post(
        f"{path}/members", json={"userId": outsider["id"], "role": "user"}, headers=_bearer(guest)
    )
    assert not_admin.status_code == 403
    for body, status in (
        ({"userId": 999, "role": "user"}, 404),
        ({"userId": outsider["id"], "role": "king"}, 400),
    ):
        response = await http.post(f"{path}/members", json=body, headers=_bearer(admin))
        assert response.status_code == status, body
    missing = await http.post(
        "/workspaces/999/members",
        json={"userId": guest["id"], "role": "user"},
        headers=_bearer(admin),
    )
    assert missing.status_code == 404


async def test_valid_auth_and_an_expired_token_with_a_transaction(
    server: Running, http: httpx.AsyncClient
) -> None:
    user = await _signup(http, "auth@example.com")
    client = Client()
    await client.connect(f"http://127.0.0.1:{server.http_port}")
    ack = await client.call("auth", {"transaction": "tx-1", "data": user["accessToken"]})
    assert ack == {"userId": user["id"], "transaction": "tx-1"}
    assert await client.expect("auth-success") == {"userId": user["id"], "transaction": "tx-1"}
    codec = TokenCodec(
        access_secret=TEST_SECRETS["access_token"], refresh_secret=TEST_SECRETS["refresh_token"]
    )
    expired = codec.issue("access", user["id"], -5).token
    await client.emit("auth", {"transaction": "tx-2", "token": expired})
    assert await client.next_event() == ("socket-api-error-tx-2", "Invalid access token")
    assert await client.expect("socket-api-error") == {
        "event": "auth",
        "message": "Invalid access token",
    }
    await client.emit("auth", "not an object")  # no transaction: only the general error
    assert await client.expect("socket-api-error") == {
        "event": "auth",
        "message": 'Invalid data format for "auth" event',
    }
    await client.emit("nobody-listens", {"transaction": "tx-3"})  # ignored, as Socket.IO does
    await client.silent()
    await client.disconnect()


async def test_channel_created_reaches_the_members_who_can_see_it(
    server: Running, http: httpx.AsyncClient
) -> None:
    creator = await _signup(http, "creator@example.com")
    member = await _signup(http, "member@example.com")
    outsider = await _signup(http, "outsider@example.com")
    workspace = (
        await http.post("/workspaces", json={"name": "Team"}, headers=_bearer(creator))
    ).json()["workspace"]
    await http.post(
        f"/workspaces/{workspace['id']}/members",
        json={"userId": member["id"], "role": "user"},
        headers=_bearer(creator),
    )
    async with (
        authed(server, creator) as creator_socket,
        authed(server, member) as member_socket,
        authed(server, outsider) as outsider_socket,
    ):
        public = await http.post(
            f"/workspaces/{workspace['id']}/channels",
            json={"name": "news"},
            headers=_bearer(creator),
        )
        for socket in (creator_socket, member_socket):
            assert await socket.expect("channel-created") == public.json()["channel"]
        await outsider_socket.silent()
        private = await http.post(
            f"/workspaces/{workspace['id']}/channels",
            json={"name": "secret", "isPrivate": True},
            headers=_bearer(creator),
        )
        assert await creator_socket.expect("channel-created") == private.json()["channel"]
        assert private.json()["channel"]["is_private"] is True
        await member_socket.silent()
        await outsider_socket.silent()
