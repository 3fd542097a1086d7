"""The parties app's live side: each event is a room; joins, leaves, chat, media and the
close are announced to it in the seed's `name/payload` frames.

Invariants: `usersCount` counts distinct users (one user on several devices
counts once); a chat message is stored before anyone hears it; after
`closeEvent/` every connection of the event is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.accounts import Accounts
from handlers.parties import store
from handlers.parties.media import MediaStore
from realtime.connection import Connection
from realtime.hub import Hub
from realtime.ratelimit import TokenBucket
from realtime.transport import NORMAL_CLOSURE
from settings import PartiesSettings
from storage import Database

CHAT_RATE = 2.0  # chat messages per second, per connection, after a burst of
CHAT_BURST = 5


def room_of(event_id: str) -> str:
    return f"parties:event-{event_id}"


@dataclass(eq=False)
class Guest:
    """A connection's user in an event."""

    person: store.Person
    event_id: str
    chat: TokenBucket


class Parties:
    def __init__(
        self,
        *,
        db: Database,
        hub: Hub,
        accounts: Accounts,
        media: MediaStore,
        settings: PartiesSettings,
    ) -> None:
        self.db = db
        self.hub = hub
        self.accounts = accounts
        self.media = media
        self.settings = settings
        self.quota = store.Quota(settings.max_user_media, settings.max_user_media_bytes)
        self._live: dict[str, store.Event] = {}  # open events with connections, as last known

    def token(self, person: store.Person) -> str:
        claims = {"ID": str(person.id), "Name": person.name, "ImageID": person.image_id or ""}
        ttl = self.settings.token_lifetime_days * 86400
        return self.accounts.tokens.issue("access", person.id, ttl, claims).token

    def users_count(self, event_id: str) -> int:
        return self.hub.users_in(room_of(event_id))

    def update_view(self, event: store.Event) -> dict[str, Any]:
        return {
            "eventId": event.id,
            "name": event.name,
            "address": event.address,
            "usersCount": self.users_count(event.id),
            "coordinates": {"x": event.x, "y": event.y},
        }

    def announce(self, event_id: str, name: str, payload: Any) -> None:
        self.hub.push(room_of(event_id), name, payload)

    def changed(self, event: store.Event) -> None:
        """The event's name, address or place changed: tell whoever is in it."""
        if event.id in self._live:
            self._live[event.id] = event
            self.announce(event.id, "eventUpdated", self.update_view(event))

    def joined(self, connection: Connection, person: store.Person, event: store.Event) -> None:
        connection.app_state = Guest(person, event.id, TokenBucket(CHAT_RATE, CHAT_BURST))
        self.hub.join(connection, room_of(event.id))
        self._live.setdefault(event.id, event)
        self.announce(event.id, "eventUpdated", self.update_view(self._live[event.id]))

    def left(self, connection: Connection) -> None:
        guest = connection.app_state
        if not isinstance(guest, Guest):
            return
        event = self._live.get(guest.event_id)
        if event is None:  # closed: nobody is told any more
            return
        if not self.hub.members(room_of(event.id)):
            del self._live[event.id]
            return
        self.announce(event.id, "eventUpdated", self.update_view(event))

    def close(self, event_id: str) -> None:
        """`closeEvent/` to everyone in the event, then close their connections."""
        self._live.pop(event_id, None)
        self.announce(event_id, "closeEvent", None)
        for connection in self.hub.members(room_of(event_id)):
            connection.close(NORMAL_CLOSURE, "event closed")
