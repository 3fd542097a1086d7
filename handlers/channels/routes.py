"""The channels app's REST routes, as channels.md gives them.

Failures answer as the original (NestJS) did: `{"statusCode", "message", "error"}`.
Creating a channel sends `channel-created` to every authenticated socket of the
users who can see it, and to no one else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Annotated, Any

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
    TokenCodec,
    TokenError,
    TokenPair,
)
from handlers.channels import store
from handlers.channels.socket import user_room
from handlers.web import SINGLE_LINE, BodyError, bearer_token, read_body
from realtime.hub import Hub
from storage import Database

Reply = tuple[Any, int]
View = Callable[..., Awaitable[Reply]]
Name = Annotated[str, msgspec.Meta(min_length=3, max_length=100, pattern=SINGLE_LINE)]
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
}


class Credentials(msgspec.Struct):
    email: str
    password: str


class SignUp(msgspec.Struct):
    user: Credentials


class SignIn(msgspec.Struct):
    credentials: Credentials


class TokenPairBody(msgspec.Struct):
    accessToken: str
    refreshToken: str


class NewWorkspace(msgspec.Struct):
    name: Name


class NewChannel(msgspec.Struct):
    name: Name
    isPrivate: bool = False


class NewMember(msgspec.Struct):
    userId: Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    role: store.Role


def error(status: int, message: str) -> Reply:
    return {"statusCode": status, "message": message, "error": REASONS[status]}, status


def blueprint(
    db: Database, accounts: Accounts, tokens: TokenCodec, hub: Hub, lifetimes: Lifetimes
) -> Blueprint:
    routes = Blueprint("channels", __name__)
    tag_blueprint(routes, ["channels"])

    def signed_in(view: View) -> View:
        @wraps(view)
        async def checked(*args: Any, **kwargs: Any) -> Reply:
            token = bearer_token()
            try:
                user_id = tokens.verify(token or "", "access").user_id
            except TokenError:
                return error(401, "Unauthorized")
            return await view(user_id, *args, **kwargs)

        return checked

    def user_answer(user_id: int, email: str, pair: TokenPair, status: int) -> Reply:
        user = {"id": user_id, "email": email, **_tokens(pair)}
        return {"user": user}, status

    def claims(user_id: int, email: str) -> dict[str, Any]:
        return {"userId": user_id, "email": email}

    @routes.post("/signup")
    @document_request(SignUp)
    async def signup() -> Reply:
        """Create an account: {user: {id, email, accessToken, refreshToken}}."""
        try:
            given = (await read_body(SignUp)).user
            email = given.email.strip()
            user_id, pair = await accounts.register_email(
                email, given.password, lifetimes, lambda user_id: claims(user_id, email)
            )
        except BodyError:
            return error(400, "user.email and user.password are required")
        except EmailTaken:
            return error(400, "Email is already taken")
        except AccountError as refusal:
            return error(400, refusal.message)
        return user_answer(user_id, email, pair, 201)

    @routes.post("/signin")
    @document_request(SignIn)
    async def signin() -> Reply:
        """Log in: the same answer as /signup."""
        try:
            given = (await read_body(SignIn)).credentials
        except BodyError:
            return error(400, "credentials.email and credentials.password are required")
        try:
            user_id = await accounts.login_email(given.email, given.password)
        except SignInThrottled as throttled:
            return error(429, str(throttled))
        if user_id is None:
            return error(401, "Email or password are invalid")
        email = given.email.strip()
        pair = await accounts.issue_pair(user_id, lifetimes, claims(user_id, email))
        return user_answer(user_id, email, pair, 200)

    @routes.post("/refresh_token")
    @document_request(TokenPairBody)
    async def refresh() -> Reply:
        """Spend the refresh token for a new pair."""
        try:
            given = await read_body(TokenPairBody)
        except BodyError:
            return error(400, "accessToken and refreshToken are required")
        try:
            presented = tokens.verify(given.refreshToken, "refresh")
            access_user = tokens.verify(given.accessToken, "access", allow_expired=True).user_id
        except TokenError:
            return error(401, "Invalid or expired tokens")
        if access_user != presented.user_id:
            return error(401, "Invalid or expired tokens")
        email = str(presented.payload.get("email", ""))
        try:
            pair = await accounts.refresh(
                given.refreshToken, lifetimes, lambda user: {"userId": user, "email": email}
            )
        except RefreshRefused:
            return error(401, "Invalid or expired tokens")
        return _tokens(pair), 200

    @routes.post("/workspaces")
    @document_request(NewWorkspace)
    @signed_in
    async def create_workspace(user_id: int) -> Reply:
        """Create a workspace (its creator its admin, with a general channel)."""
        try:
            name = (await read_body(NewWorkspace)).name
        except BodyError:
            return error(400, "name must be 3 to 100 characters")
        workspace, general = await db.write(
            partial(store.create_workspace, creator_id=user_id, name=name)
        )
        hub.push(user_room(user_id), "channel-created", general)
        return {"workspace": workspace}, 201

    @routes.post("/workspaces/<int(max=2147483647):workspace_id>/channels")
    @document_request(NewChannel)
    @signed_in
    async def create_channel(user_id: int, workspace_id: int) -> Reply:
        """Create a channel; channel-created goes to those who can see it."""
        try:
            given = await read_body(NewChannel)
        except BodyError:
            return error(400, "name must be 3 to 100 characters; isPrivate a boolean")

        def create(connection: sqlite3.Connection) -> tuple[dict[str, Any], list[int]] | None:
            if store.role_of(connection, workspace_id, user_id) not in store.MAY_CREATE_CHANNELS:
                return None
            channel = store.create_channel(
                connection, workspace_id, user_id, given.name, private=given.isPrivate
            )
            return channel, store.audience(connection, channel)

        try:
            created = await db.write(create)
        except store.NameTaken:
            return error(400, "A channel with this name already exists in the workspace")
        if created is None:
            return error(401, "UserCanNotCreateChannels")
        channel, audience = created
        hub.push([user_room(user) for user in audience], "channel-created", channel)
        return {"channel": channel}, 201

    @routes.post("/workspaces/<int(max=2147483647):workspace_id>/members")
    @document_request(NewMember)
    @signed_in
    async def add_member(user_id: int, workspace_id: int) -> Reply:
        """Workspace admin: add a member with a role."""
        try:
            given = await read_body(NewMember)
        except BodyError:
            return error(400, f"userId and role (one of {', '.join(store.ROLES)}) are required")

        def add(connection: sqlite3.Connection) -> Reply | None:
            if not store.workspace_exists(connection, workspace_id):
                return error(404, "Workspace not found")
            if store.role_of(connection, workspace_id, user_id) != "admin":
                return error(403, "Only a workspace admin can add members")
            if not store.user_exists(connection, given.userId):
                return error(404, "User not found")
            store.add_member(connection, workspace_id, given.userId, given.role)
            return None

        refusal = await db.write(add)
        if refusal is not None:
            return refusal
        member = {"workspace_id": workspace_id, "user_id": given.userId, "role": given.role}
        return {"member": member}, 201

    @routes.get("/status")
    async def status() -> tuple[str, int]:
        """Liveness: OK."""
        return "OK", 200

    return routes


def _tokens(pair: TokenPair) -> dict[str, str]:
    return {"accessToken": pair.access_token, "refreshToken": pair.refresh_token}
