"""Click & Cook's REST routes: /reg, /auth and /refresh, answered as the original did,
and /logout (Hearth's: the original had none).

Success: 200 {"status": 0, "tokens": {"access_token", "refresh_token"}}; /logout
answers {"status": 0}.
Failures: {"status": "<code>", "message": "..."} with status "1" (401: bad
credentials or token), "2" (400: missing data or a policy failure, the
message says which), "3" (409: the email is taken).
"""

from __future__ import annotations

from typing import Any

import msgspec
from quart import Blueprint
from quart_schema import document_request, tag_blueprint

from handlers.accounts import (
    AccountError,
    Accounts,
    EmailTaken,
    Lifetimes,
    RefreshRefused,
    SignInThrottled,
    TokenError,
    TokenPair,
)
from handlers.web import BodyError, bearer_token, read_body
from realtime.hub import Hub
from realtime.transport import POLICY_VIOLATION

Reply = tuple[dict[str, Any], int]


class Credentials(msgspec.Struct):
    email: str
    password: str


def blueprint(accounts: Accounts, lifetimes: Lifetimes, hub: Hub) -> Blueprint:
    routes = Blueprint("clicker", __name__)
    tag_blueprint(routes, ["clicker"])

    async def credentials() -> Credentials | None:
        try:
            given = await read_body(Credentials)
        except BodyError:
            return None
        return given if given.email and given.password else None

    @routes.post("/reg")
    @document_request(Credentials)
    async def register() -> Reply:
        """Register with email and password (JSON, urlencoded or multipart); answers tokens."""
        given = await credentials()
        if given is None:
            return _failure("2", "not enough data", 400)
        try:
            _, pair = await accounts.register_email(given.email, given.password, lifetimes, _claims)
        except EmailTaken:
            return _failure("3", "this user already exist", 409)
        except AccountError as refusal:
            return _failure("2", refusal.message, 400)
        return _tokens(pair)

    @routes.post("/auth")
    @document_request(Credentials)
    async def authenticate() -> Reply:
        """Log in with email and password; answers tokens."""
        given = await credentials()
        if given is None:
            return _failure("2", "not enough data", 400)
        try:
            user_id = await accounts.login_email(given.email, given.password)
        except SignInThrottled as throttled:
            return _failure("1", str(throttled), 429)
        if user_id is None:
            return _failure("1", "invalid user info", 401)
        return _tokens(await accounts.issue_pair(user_id, lifetimes, _claims(user_id)))

    @routes.post("/refresh")
    async def refresh() -> Reply:
        """Spend the refresh token in `Authorization: Bearer` for a new pair."""
        token = bearer_token()
        if token is None:
            return _failure("1", "missing token", 401)
        try:
            pair = await accounts.refresh(token, lifetimes, _claims)
        except RefreshRefused as refusal:
            return _failure("1", refusal.message, 401)
        return _tokens(pair)

    @routes.post("/logout")
    async def logout() -> Reply:
        """End every token of the user in `Authorization: Bearer <access token>` (every
        app's, access and refresh) and close the user's WebSockets (1008 `logged out`)."""
        token = bearer_token()
        if token is None:
            return _failure("1", "missing token", 401)
        try:
            user_id = accounts.tokens.verify(token, "access").user_id
        except TokenError as refusal:
            return _failure("1", str(refusal), 401)
        await accounts.logout(user_id)
        hub.close_user(user_id, POLICY_VIOLATION, "logged out")
        return {"status": 0}, 200

    return routes


def _claims(user_id: int) -> dict[str, str]:
    """The clicker's clients read the user id from the `id` claim, as a string."""
    return {"id": str(user_id)}


def _tokens(pair: TokenPair) -> Reply:
    return {
        "status": 0,
        "tokens": {"access_token": pair.access_token, "refresh_token": pair.refresh_token},
    }, 200


def _failure(status: str, message: str, http_status: int) -> Reply:
    return {"status": status, "message": message}, http_status
