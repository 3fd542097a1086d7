"""The orders app's WebSocket, `/?token=<JWT>`: rooms by role, ping, join-room, leave-room.

The token is checked before the upgrade (HTTP 401 without a valid one). Once
open, the connection joins `user-<id>`, plus `admin-orders` (admin, ceo) or
`city-<id>-orders` for each of a manager's cities, and is greeted with
`connected {userId, role}`. A room the user is not entitled to answers
`{"type":"error","data":{"message":"forbidden","roomId":...}}` and joins nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from handlers.accounts import TokenCodec
from handlers.orders import auth, events, store
from handlers.orders.service import Orders
from realtime.commands import CommandError, Commands, Context
from realtime.connection import Connection
from realtime.endpoint import Refusal
from realtime.hub import Hub, TooManyConnections
from realtime.transport import POLICY_VIOLATION, Handshake

commands: Commands[Orders] = Commands()
Ctx = Context[Orders, Any]


class RoomChoice(msgspec.Struct):
    roomId: Annotated[str, msgspec.Meta(max_length=100)]


async def admit(tokens: TokenCodec, handshake: Handshake) -> Refusal | None:
    token = handshake.query.get("token", "")
    if not token or auth.user_id_of(tokens, token) is None:
        return Refusal(401, "Unauthorized")
    return None


async def greet(tokens: TokenCodec, hub: Hub, orders: Orders, connection: Connection) -> None:
    """Bind the connection to its user, join its rooms, send `connected`; the connection
    lives as long as its token (then close 1008 `token expired`)."""
    claims = auth.claims_of(tokens, connection.handshake.query.get("token", ""))
    person = orders.person(claims.user_id) if claims is not None else None
    if claims is None or person is None:
        raise CommandError("Unauthorized", close_code=POLICY_VIOLATION)
    try:
        hub.bind_user(connection, person.id)
    except TooManyConnections:
        raise CommandError("too many connections", close_code=POLICY_VIOLATION) from None
    connection.expire_at(claims.expires_at)
    connection.app_state = person
    for room in events.rooms_of(person):
        orders.events.join(connection, room)
    connection.push(
        connection.codec.encode_push("connected", {"userId": person.id, "role": person.role})
    )


def _person(ctx: Ctx) -> store.Person:
    person = ctx.connection.app_state
    assert isinstance(person, store.Person)  # greet set it before any command runs
    return person


@commands.command("ping", msgspec.Raw)  # any data, or none
async def ping(ctx: Ctx) -> None:
    ctx.push("pong")


@commands.command("join-room", RoomChoice)
async def join_room(ctx: Ctx) -> None:
    room = ctx.data.roomId
    if not events.may_join(_person(ctx), room):
        raise CommandError("forbidden", details={"roomId": room})
    ctx.services.events.join(ctx.connection, room)


@commands.command("leave-room", RoomChoice)
async def leave_room(ctx: Ctx) -> None:
    ctx.services.events.leave(ctx.connection, ctx.data.roomId)
