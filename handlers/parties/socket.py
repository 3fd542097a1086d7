"""The event WebSocket: `/api/v1/websockets/event?accessToken=<jwt>&eventId=<uuid>`.

Checked before the upgrade: an `eventId` that is no UUID is 400, a missing or
invalid token 401, a missing or closed event 404. Then everyone in the event
hears `eventUpdated` (the newcomer too). The one client frame is
`chatMessage/<text>`: trimmed, 1..2000 characters, at most a few a second;
it is stored and sent to everyone in the event, the sender included. Anything
else is ignored; a binary frame closes the connection (1003).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from handlers.accounts import Claims, TokenError
from handlers.parties import store
from handlers.parties.service import Guest, Parties
from handlers.web import plain_text
from realtime.commands import CommandError, Commands, Context
from realtime.connection import Connection
from realtime.endpoint import Refusal
from realtime.hub import TooManyConnections
from realtime.transport import POLICY_VIOLATION, Handshake

commands: Commands[Parties] = Commands()


def _event_id(handshake: Handshake) -> str | None:
    try:
        return str(uuid.UUID(handshake.query.get("eventId", "")))
    except ValueError:
        return None


def _claims(parties: Parties, handshake: Handshake) -> Claims | None:
    try:
        return parties.accounts.tokens.verify(handshake.query.get("accessToken", ""), "access")
    except TokenError:
        return None


async def admit(parties: Parties, handshake: Handshake) -> Refusal | None:
    event_id = _event_id(handshake)
    if event_id is None:
        return Refusal(400, "eventId must be a UUID")
    if _claims(parties, handshake) is None:
        return Refusal(401, "Unauthorized")
    event = parties.db.read_now(partial(store.event, event_id=event_id))
    if event is None or event.closed:
        return Refusal(404, "event not found")
    return None


async def greet(parties: Parties, connection: Connection) -> None:
    """Join the event; the connection lives as long as its token (then close 1008
    `token expired`)."""
    handshake = connection.handshake
    claims, event_id = _claims(parties, handshake), _event_id(handshake)
    if claims is None or event_id is None:
        raise CommandError("Unauthorized", close_code=POLICY_VIOLATION)
    user_id = claims.user_id

    def find(c: Any) -> tuple[store.Person | None, store.Event | None]:
        return store.person_by(c, "user_id", user_id), store.event(c, event_id)

    person, event = parties.db.read_now(find)
    if person is None or event is None or event.closed:
        raise CommandError("gone", close_code=POLICY_VIOLATION)
    try:
        parties.hub.bind_user(connection, person.id)
    except TooManyConnections:
        raise CommandError("too many connections", close_code=POLICY_VIOLATION) from None
    connection.expire_at(claims.expires_at)
    parties.joined(connection, person, event)


@commands.command("chatMessage", str)
async def chat_message(ctx: Context[Parties, str]) -> None:
    guest = ctx.connection.app_state
    assert isinstance(guest, Guest)
    text = ctx.data.strip()
    if not 1 <= len(text) <= ctx.services.settings.chat_max_length:
        return  # ignored, as the seed's protocol has no error frames
    if not plain_text(text, multiline=True) or not guest.chat.allow():
        return
    await ctx.db.write(
        partial(store.add_chat, event_id=guest.event_id, user_id=guest.person.id, message=text)
    )
    person = guest.person
    ctx.services.announce(
        guest.event_id,
        "chatMessage",
        {
            "userId": str(person.id),
            "userName": person.name,
            "userImageId": person.image_id,
            "message": text,
        },
    )
