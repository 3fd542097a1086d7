"""Rooms of connections, and delivery to them that never waits on a client.

Every open connection is attached to the hub for its whole life. A room is a
name mapped to the connections in it; a publish encodes its frame once per
codec among the members and pushes it onto each member's bounded outbox, so a
slow member is dropped (see Connection.push) and never slows the publisher.

Invariants: a detached connection is in no room; a user never has more than
`max_connections_per_user` bound connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import trio

from realtime.codec import Codec, Outgoing
from realtime.connection import Connection

logger = logging.getLogger("hearth.realtime")


class TooManyConnections(Exception):
    """The user already has the most connections allowed."""


class Hub:
    def __init__(self, *, max_connections_per_user: int) -> None:
        self._max_per_user = max_connections_per_user
        self._connections: set[Connection] = set()
        self._rooms: dict[str, set[Connection]] = {}
        self._rooms_of: dict[Connection, set[str]] = {}
        self._by_user: dict[int, set[Connection]] = {}
        self._all_gone = trio.Event()
        self._all_gone.set()

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._connections))

    def __contains__(self, connection: object) -> bool:
        return connection in self._connections

    def attach(self, connection: Connection) -> None:
        self._connections.add(connection)
        self._rooms_of[connection] = set()
        if self._all_gone.is_set():
            self._all_gone = trio.Event()

    def detach(self, connection: Connection) -> None:
        for room in self._rooms_of.pop(connection, ()):
            members = self._rooms[room]
            members.discard(connection)
            if not members:
                del self._rooms[room]
        if connection.user_id is not None:
            mine = self._by_user.get(connection.user_id)
            if mine is not None:
                mine.discard(connection)
                if not mine:
                    del self._by_user[connection.user_id]
        self._connections.discard(connection)
        if not self._connections:
            self._all_gone.set()

    def bind_user(self, connection: Connection, user_id: int) -> None:
        """Record that `connection` acts for `user_id`; raises TooManyConnections at the cap."""
        mine = self._by_user.get(user_id, set())
        if connection not in mine and len(mine) >= self._max_per_user:
            raise TooManyConnections(user_id)
        self._by_user.setdefault(user_id, mine).add(connection)
        connection.user_id = user_id

    def close_user(self, user_id: int, code: int, reason: str) -> int:
        """Close every connection acting for `user_id` (a logout); returns how many."""
        mine = list(self._by_user.get(user_id, ()))
        for connection in mine:
            connection.close(code, reason)
        return len(mine)

    def join(self, connection: Connection, room: str) -> None:
        rooms = self._rooms_of.get(connection)
        if rooms is None:  # already detached
            return
        rooms.add(room)
        self._rooms.setdefault(room, set()).add(connection)

    def leave(self, connection: Connection, room: str) -> None:
        rooms = self._rooms_of.get(connection)
        if rooms is None or room not in rooms:
            return
        rooms.discard(room)
        members = self._rooms[room]
        members.discard(connection)
        if not members:
            del self._rooms[room]

    def users_in(self, room: str) -> int:
        """How many distinct users the room's connections act for."""
        return len({c.user_id for c in self._rooms.get(room, ()) if c.user_id is not None})

    def members(self, room: str) -> list[Connection]:
        return list(self._rooms.get(room, ()))

    def publish(self, rooms: str | Iterable[str], encode: Callable[[Codec], Outgoing]) -> int:
        """Push `encode(codec)` once to every member of `rooms`, encoding once per codec.

        A connection in several of the rooms gets the frame once. Returns how
        many connections it was pushed to. Never waits.
        """
        if isinstance(rooms, str):
            room = self._rooms.get(rooms, ())
            if len(room) == 1:  # a user's own room, nearly always: one frame, no sharing
                (connection,) = room
                connection.push(encode(connection.codec))
                return 1
            members = list(room)
        else:
            members = list(set().union(*(self._rooms.get(room, ()) for room in rooms)))
        # Members nearly always share one codec: the frame for the last one met is at
        # hand, those for any others wait by the codec's id (a codec need not be hashable).
        codec: Codec | None = None
        frame: Outgoing = None
        others: dict[int, Outgoing] = {}
        for connection in members:
            if connection.codec is not codec:
                if codec is not None:
                    others[id(codec)] = frame
                codec = connection.codec
                frame = others[id(codec)] if id(codec) in others else encode(codec)
            connection.push(frame)
        return len(members)

    def push(self, rooms: str | Iterable[str], event: str, data: Any) -> int:
        """Publish the push `event` carrying `data`, as each member's codec encodes a push."""
        return self.publish(rooms, partial(_encode_push, event, data))

    async def close_all(self, code: int, reason: str, *, grace: float) -> None:
        """Close every connection with `code`; abort those still open after `grace` seconds."""
        for connection in list(self._connections):
            connection.close(code, reason)
        with trio.move_on_after(grace):
            await self._all_gone.wait()
        for connection in list(self._connections):
            connection.abort(code, reason)


def _encode_push(event: str, data: Any, codec: Codec) -> Outgoing:
    return codec.encode_push(event, data)
