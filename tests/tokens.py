"""Tokens against every app: a user every app knows, forged tokens, and what each place
that takes an access token answers to one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from typing import Any

import httpx
import jwt
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.clients import Player, register, user_id_of
from tests.conftest import TEST_SECRETS
from tests.sio_clients import emit_event, open_namespace, receive_event

ACCESS_SECRET = TEST_SECRETS["access_token"]
REFRESH_SECRET = TEST_SECRETS["refresh_token"]

# What each place answers to a token it refuses, and to a genuine one.
REFUSED: dict[str, object] = {
    "clicker socket": "token invalid",
    "orders REST": 401,
    "orders socket": 401,
    "parties REST": "unauthorized",
    "parties socket": 401,
    "channels REST": 401,
    "channels socket": "Invalid access token",
}
ACCEPTED: dict[str, object] = {
    "clicker socket": "session",
    "orders REST": 200,
    "orders socket": "connected",
    "parties REST": "ok",
    "parties socket": 404,  # the token passed; the event (a random id) does not exist
    "channels REST": 201,
    "channels socket": "auth-success",
}


async def everywhere_user(
    http: httpx.AsyncClient, database: str, email: str | None = None
) -> dict[str, str]:
    """A new user (email and password, as /reg makes them) who is also a parties person, so
    every app's routes and sockets serve their access token. Returns the /reg tokens."""
    tokens = await register(http, email)
    user_id = user_id_of(tokens)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO party_people (user_id, phone, name) VALUES (?, ?, ?)",
            (user_id, f"{5_000_000_000 + user_id}", f"Everywhere {user_id}"),
        )
    return tokens


async def answers_to(token: str, http: httpx.AsyncClient, port: int) -> dict[str, object]:
    """Present `token` as an access token to every app, its sockets on `port`; what each
    answered (compare with REFUSED and ACCEPTED)."""
    bearer = {"Authorization": f"Bearer {token}"}
    answers: dict[str, object] = {}
    async with open_websocket_url(f"ws://127.0.0.1:{port}/ws") as socket:
        player = Player(socket, token)
        await player.send("session", "s")
        frame = await player.receive()
        error = frame["request_type"] == "error"
        answers["clicker socket"] = frame["data"]["message"] if error else frame["request_type"]
    answers["orders REST"] = (await http.get("/api/bonuses/balance", headers=bearer)).status_code
    answers["orders socket"] = await _first_frame_or_status(port, f"/?token={token}")
    updated = (await http.post("/api/v1/users/update", json={}, headers=bearer)).json()
    answers["parties REST"] = "ok" if updated["isSuccess"] else updated["errors"][0]["errorCode"]
    answers["parties socket"] = await _first_frame_or_status(
        port, f"/api/v1/websockets/event?accessToken={token}&eventId={uuid.uuid4()}"
    )
    created = await http.post("/workspaces", json={"name": "Tokens"}, headers=bearer)
    answers["channels REST"] = created.status_code
    async with open_websocket_url(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    ) as socket:
        await open_namespace(socket)
        await emit_event(socket, "auth", {"token": token})
        event, data = await receive_event(socket)
        answers["channels socket"] = data["message"] if event == "socket-api-error" else event
    return answers


async def _first_frame_or_status(port: int, target: str) -> object:
    """The `type` of the first frame of an accepted socket, or the refusal's HTTP status."""
    try:
        async with open_websocket_url(f"ws://127.0.0.1:{port}{target}") as socket:
            return json.loads(await socket.get_message())["type"]
    except ConnectionRejected as rejected:
        return rejected.status_code


def _part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hand_signed(claims: dict[str, Any], key: str, header: dict[str, Any]) -> str:
    """A JWT with exactly `header`, its signature HMAC-SHA256 keyed by `key` (whatever the
    header's `alg` says; PyJWT would refuse to make most of these)."""
    signing_input = f"{_part(header)}.{_part(claims)}"
    digest = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


# An RSA public key's shape: a server that took the key named by `alg` would use these
# bytes as the HMAC secret of an "HS256" token (algorithm confusion).
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
    "-----END PUBLIC KEY-----\n"
)


def forgeries(genuine: str, other_type: str, other_user_id: int) -> dict[str, str]:
    """Tokens made from a genuine token's claims (an access or a refresh token; `other_type`
    is a genuine token of the other type) that nothing may accept: every one is forged, of
    the wrong type, or not for this issuer and audience."""
    claims: dict[str, Any] = jwt.decode(genuine, options={"verify_signature": False})
    access = claims["typ"] == "access"
    secret, other_secret = (
        (ACCESS_SECRET, REFRESH_SECRET) if access else (REFRESH_SECRET, ACCESS_SECRET)
    )
    header, payload, signature = genuine.split(".")
    now = int(time.time())

    def signed(changes: dict[str, Any], key: str = secret, alg: str = "HS256") -> str:
        return jwt.encode({**claims, **changes}, key, algorithm=alg)

    def without(name: str) -> str:
        return jwt.encode({k: v for k, v in claims.items() if k != name}, secret)

    other = dict(claims, sub=str(other_user_id), id=str(other_user_id))
    return {
        "alg none": f"{_part({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg None": f"{_part({'alg': 'None', 'typ': 'JWT'})}.{payload}.",
        "alg none, signature kept": f"{_part({'alg': 'none'})}.{payload}.{signature}",
        "signature removed": f"{header}.{payload}.",
        "alg RS256, HMAC with the secret": hand_signed(claims, secret, {"alg": "RS256"}),
        "alg ES256, HMAC with the secret": hand_signed(claims, secret, {"alg": "ES256"}),
        "HS256 keyed by a public key": hand_signed(claims, PUBLIC_KEY, {"alg": "HS256"}),
        "HS512 with the secret": signed({}, alg="HS512"),
        "embedded jwk": hand_signed(
            claims,
            "attacker key",
            {"alg": "HS256", "jwk": {"kty": "oct", "k": _b64("attacker key")}},
        ),
        "kid to an empty file": hand_signed(claims, "", {"alg": "HS256", "kid": "/dev/null"}),
        "subject changed": f"{header}.{_part(other)}.{signature}",
        "signed with the other type's secret": signed({}, other_secret),
        "a token of the other type": other_type,
        "the other typ, signed with this secret": signed(
            {"typ": "refresh" if access else "access"}
        ),
        "no exp": without("exp"),
        "not valid before later": signed({"nbf": now + 600}),
        "no typ": without("typ"),
        "no jti": without("jti"),
        "no iss": without("iss"),
        "no aud": without("aud"),
        "another issuer": signed({"iss": "someone-else"}),
        "a prefix of the issuer": signed({"iss": claims["iss"][:-1]}),
        "the issuer extended": signed({"iss": claims["iss"] + ".evil"}),
        "another audience": signed({"aud": "someone-else"}),
        "a prefix of the audience": signed({"aud": claims["aud"][:-1]}),
        "audience as a list of others": signed({"aud": ["someone-else"]}),
        "subject not a user id": signed({"sub": f"{claims['sub']} OR 1=1"}),
    }


def expired(genuine: str) -> str:
    """The genuine token's claims, signed right, but expired a second ago."""
    claims: dict[str, Any] = jwt.decode(genuine, options={"verify_signature": False})
    secret = ACCESS_SECRET if claims["typ"] == "access" else REFRESH_SECRET
    return jwt.encode({**claims, "exp": int(time.time()) - 1}, secret)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
