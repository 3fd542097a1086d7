"""The channels app's Socket.IO events: `auth`, and the transaction-tagged error scheme.

`auth {transaction?, token | data}` (the seed names the token `data`, the
original read `token`: both are accepted) binds the socket to its user and
answers `auth-success {userId, transaction}` (also as the ack, when asked).
Errors, for any of this app's events: `socket-api-error-<transaction>` with
the message as a plain string when the event carried a transaction, and
always `socket-api-error {event, message}`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from handlers.accounts import TokenCodec, TokenError
from realtime.commands import CommandError, Commands, Context
from realtime.hub import Hub, TooManyConnections

Text = Annotated[str, msgspec.Meta(max_length=4096)]


class Channels:
    """What the channels app's events need."""

    def __init__(self, tokens: TokenCodec, hub: Hub) -> None:
        self.tokens = tokens
        self.hub = hub


commands: Commands[Channels] = Commands()


def user_room(user_id: int) -> str:
    return f"channels:user-{user_id}"


def error_events(event: str, transaction: str | None, message: str) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    if transaction:
        events.append((f"socket-api-error-{transaction}", message))
    events.append(("socket-api-error", {"event": event, "message": message}))
    return events


class Auth(msgspec.Struct):
    transaction: Text | None = None
    token: Text | None = None
    data: Text | None = None


@commands.command("auth", Auth)
async def auth(ctx: Context[Channels, Auth]) -> dict[str, Any]:
    token = ctx.data.token or ctx.data.data
    if not token:
        raise CommandError("Access token is required")
    try:
        user_id = ctx.services.tokens.verify(token, "access").user_id
    except TokenError:
        raise CommandError("Invalid access token") from None
    connection = ctx.connection
    if connection.user_id is None:
        try:
            ctx.services.hub.bind_user(connection, user_id)
        except TooManyConnections:
            raise CommandError("Too many connections") from None
        ctx.services.hub.join(connection, user_room(user_id))
    elif connection.user_id != user_id:
        raise CommandError("This socket is authenticated as another user")
    success = {"userId": user_id, "transaction": ctx.data.transaction}
    ctx.push("auth-success", success)
    return success
