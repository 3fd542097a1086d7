"""POST /reg, /auth and /refresh: bodies of every kind, the documented answers, rotation."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.clients import register
from tests.conftest import TEST_SECRETS

CREDENTIALS = {"email": "cook@example.com", "password": "correct horse"}


def _assert_tokens(body: dict[str, object], user_id: int | None = None) -> dict[str, str]:
    assert body["status"] == 0
    tokens = body["tokens"]
    assert isinstance(tokens, dict) and set(tokens) == {"access_token", "refresh_token"}
    access = jwt.decode(
        tokens["access_token"],
        TEST_SECRETS["access_token"],
        algorithms=["HS256"],
        audience="hearth-clients",
    )
    assert access["typ"] == "access" and access["id"] == access["sub"]
    assert access["exp"] - access["iat"] == 900  # 15 minutes
    refresh = jwt.decode(
        tokens["refresh_token"],
        TEST_SECRETS["refresh_token"],
        algorithms=["HS256"],
        audience="hearth-clients",
    )
    assert refresh["typ"] == "refresh" and refresh["exp"] - refresh["iat"] == 168 * 3600
    if user_id is not None:
        assert access["id"] == str(user_id)
    return tokens


@pytest.mark.parametrize("kind", ["json", "urlencoded", "multipart"])
async def test_register_then_login_with_every_body_kind(http: httpx.AsyncClient, kind: str) -> None:
    def send(path: str) -> dict[str, object]:
        if kind == "json":
            return {"json": CREDENTIALS}
        if kind == "urlencoded":
            return {"data": CREDENTIALS}
        return {"files": {name: (None, value) for name, value in CREDENTIALS.items()}}

    registered = await http.post("/reg", **send("/reg"))  # type: ignore[arg-type]
    assert registered.status_code == 200, registered.text
    _assert_tokens(registered.json(), user_id=1)
    logged_in = await http.post("/auth", **send("/auth"))  # type: ignore[arg-type]
    assert logged_in.status_code == 200
    _assert_tokens(logged_in.json(), user_id=1)


async def test_register_errors(http: httpx.AsyncClient) -> None:
    not_enough = {"status": "2", "message": "not enough data"}
    for body in (
        {},
        {"email": "a@b.co"},
        {"password": "correct horse"},
        {"email": "", "password": ""},
    ):
        response = await http.post("/reg", json=body)
        assert (response.status_code, response.json()) == (400, not_enough)
    for raw in (b"{", b"[]", b"null", b'{"email": 5, "password": "correct horse"}'):
        response = await http.post(
            "/reg", content=raw, headers={"content-type": "application/json"}
        )
        assert (response.status_code, response.json()) == (400, not_enough)

    async def refused(email: str, password: str) -> tuple[int, object]:
        response = await http.post("/reg", json={"email": email, "password": password})
        return response.status_code, response.json()

    assert await refused("not-an-email", "correct horse") == (
        400,
        {"status": "2", "message": "invalid email"},
    )
    assert await refused("a@b.co", "short") == (
        400,
        {"status": "2", "message": "password must be at least 8 characters"},
    )
    assert await refused("a@b.co", "password123") == (
        400,
        {"status": "2", "message": "password is too common"},
    )
    lone_surrogate = b'{"email": "\\ud800@b.co", "password": "correct horse"}'
    response = await http.post(
        "/reg", content=lone_surrogate, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (400, not_enough)
    await register(http, "taken@example.com")
    assert await refused("TAKEN@example.com", "correct horse") == (
        409,
        {"status": "3", "message": "this user already exist"},
    )


async def test_login_errors(http: httpx.AsyncClient) -> None:
    await register(http, "cook@example.com")
    invalid = {"status": "1", "message": "invalid user info"}
    for body in (
        {"email": "cook@example.com", "password": "wrong horse"},
        {"email": "nobody@example.com", "password": "correct horse"},
    ):
        response = await http.post("/auth", json=body)
        assert (response.status_code, response.json()) == (401, invalid)
    response = await http.post("/auth", json={"email": "cook@example.com"})
    assert (response.status_code, response.json()) == (
        400,
        {"status": "2", "message": "not enough data"},
    )


async def test_long_passwords_are_whole(http: httpx.AsyncClient) -> None:
    long = "p" * 72 + "-the-rest"
    response = await http.post("/reg", json={"email": "long@example.com", "password": long})
    assert response.status_code == 200
    wrong = await http.post("/auth", json={"email": "long@example.com", "password": "p" * 72})
    assert wrong.status_code == 401
    right = await http.post("/auth", json={"email": "long@example.com", "password": long})
    assert right.status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(http: httpx.AsyncClient) -> None:
    first = await register(http, "rotating@example.com")

    async def refresh(token: str) -> httpx.Response:
        return await http.post("/refresh", headers={"Authorization": f"Bearer {token}"})

    second_response = await refresh(first["refresh_token"])
    assert second_response.status_code == 200
    second = _assert_tokens(second_response.json(), user_id=1)
    third = _assert_tokens((await refresh(second["refresh_token"])).json(), user_id=1)

    reused = await refresh(first["refresh_token"])  # spent: a thief, or a replay
    assert reused.status_code == 401
    assert reused.json()["status"] == "1"
    assert "reused" in reused.json()["message"]
    # The whole family is revoked: the newest token of it no longer works either.
    revoked = await refresh(third["refresh_token"])
    assert (revoked.status_code, revoked.json()["message"]) == (401, "token revoked")
    # A fresh login starts a new family.
    login = await http.post(
        "/auth", json={"email": "rotating@example.com", "password": "correct horse"}
    )
    assert (await refresh(login.json()["tokens"]["refresh_token"])).status_code == 200


async def test_refresh_refuses_access_tokens_and_garbage(http: httpx.AsyncClient) -> None:
    tokens = await register(http)
    cases = {
        f"Bearer {tokens['access_token']}": "token invalid",
        "Bearer not-a-token": "token invalid",
        "": "missing token",
        "Basic abc": "missing token",
        "Bearer": "missing token",
    }
    for header, message in cases.items():
        response = await http.post("/refresh", headers={"Authorization": header} if header else {})
        assert (response.status_code, response.json()) == (401, {"status": "1", "message": message})
