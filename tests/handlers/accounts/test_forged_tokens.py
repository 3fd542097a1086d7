"""Forged, swapped, expired and foreign tokens against every app, on the live server: each
is refused with the documented answer of the place it is presented to."""

from __future__ import annotations

import httpx
import pytest

import settings
from tests.clients import register, user_id_of
from tests.tokens import ACCEPTED, REFUSED, answers_to, everywhere_user, expired, forgeries


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 one
async def test_every_place_refuses_every_forged_access_token(
    http: httpx.AsyncClient, config: settings.Settings, ws_port: int
) -> None:
    """27 forged access tokens (alg none, algorithm and key confusion, injected keys, a
    changed subject, swapped types and secrets, missing or malformed claims, a wrong or
    prefixed issuer or audience) and an expired one, each presented to the seven places
    that take access tokens (clicker, orders, parties and channels; REST and sockets):
    all refused; the genuine token is accepted at all seven."""
    alice = await everywhere_user(http, config.storage.path)
    bob = await register(http)
    forged = forgeries(alice["access_token"], alice["refresh_token"], user_id_of(bob))
    assert len(forged) == 27
    answers = {name: await answers_to(token, http, ws_port) for name, token in forged.items()}
    assert answers == {name: REFUSED for name in forged}
    assert await answers_to(expired(alice["access_token"]), http, ws_port) == (
        REFUSED | {"clicker socket": "token expired"}
    )
    assert await answers_to(alice["access_token"], http, ws_port) == ACCEPTED


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 one
async def test_refresh_routes_refuse_every_forged_refresh_token(http: httpx.AsyncClient) -> None:
    """The same 27 forgeries made from a refresh token (so: an access token where a refresh
    token is expected, a refresh token with the access secret, ...) and an expired one, at
    /refresh (clicker) and /refresh_token (channels): each 401 with the app's answer,
    nothing spent: the genuine refresh token still refreshes afterwards."""
    alice, bob = await register(http), await register(http)
    forged = forgeries(alice["refresh_token"], alice["access_token"], user_id_of(bob))

    async def clicker(token: str) -> tuple[int, object]:
        response = await http.post("/refresh", headers=_bearer(token))
        return response.status_code, response.json()

    answers = {name: await clicker(token) for name, token in forged.items()}
    assert answers == {name: (401, {"status": "1", "message": "token invalid"}) for name in forged}
    assert await clicker(expired(alice["refresh_token"])) == (
        401,
        {"status": "1", "message": "token expired"},
    )
    assert (await clicker(alice["refresh_token"]))[0] == 200

    signed_up = await http.post(
        "/signup", json={"user": {"email": "forged@example.com", "password": "correct horse"}}
    )
    user = signed_up.json()["user"]
    forged = forgeries(user["refreshToken"], user["accessToken"], user_id_of(bob))

    async def channels(refresh_token: str) -> tuple[int, object]:
        pair = {"accessToken": user["accessToken"], "refreshToken": refresh_token}
        response = await http.post("/refresh_token", json=pair)
        return response.status_code, response.json().get("message")

    answers = {name: await channels(token) for name, token in forged.items()}
    assert answers == {name: (401, "Invalid or expired tokens") for name in forged}
    assert await channels(expired(user["refreshToken"])) == (401, "Invalid or expired tokens")
    assert (await channels(user["refreshToken"]))[0] == 200


async def test_a_reused_channels_refresh_token_revokes_its_login(http: httpx.AsyncClient) -> None:
    """/refresh_token: a spent refresh token presented again is refused, and so is the newest
    token of that login (the family is revoked); another login of the same user goes on.
    (The clicker's /refresh: tests/handlers/clicker/test_routes.py.)"""
    credentials = {"email": "reuse@example.com", "password": "correct horse"}
    user = (await http.post("/signup", json={"user": credentials})).json()["user"]

    async def refresh(access: str, refresh: str) -> httpx.Response:
        return await http.post(
            "/refresh_token", json={"accessToken": access, "refreshToken": refresh}
        )

    second = await refresh(user["accessToken"], user["refreshToken"])
    assert second.status_code == 200
    newest = second.json()
    reused = await refresh(user["accessToken"], user["refreshToken"])
    assert (reused.status_code, reused.json()["message"]) == (401, "Invalid or expired tokens")
    revoked = await refresh(newest["accessToken"], newest["refreshToken"])
    assert (revoked.status_code, revoked.json()["message"]) == (401, "Invalid or expired tokens")
    other_login = (await http.post("/signin", json={"credentials": credentials})).json()["user"]
    assert (await refresh(other_login["accessToken"], other_login["refreshToken"])).is_success
