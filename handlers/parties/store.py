"""The parties app's tables: people, events, their media and chat.

Invariants: an owner has at most one open event (a partial unique index);
names and phones are unique; chat messages are stored before anyone hears
them. Functions take the connection of their transaction.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from handlers.timestamps import now_iso


class Conflict(Exception):
    """The write conflicts with what is stored (a phone or name someone else has, an
    owner's second open event, an event's media full, an uploader's quota used up);
    the code names which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    phone: str
    image_id: str | None
    password_hash: str | None


def person_by(connection: sqlite3.Connection, column: str, value: object) -> Person | None:
    assert column in ("user_id", "phone")
    row = connection.execute(
        "SELECT p.user_id, p.name, p.phone, p.image_id, u.password_hash FROM party_people AS p"
        f" JOIN users AS u ON u.id = p.user_id WHERE p.{column} = ?",
        (value,),
    ).fetchone()
    return Person(*row) if row else None


def create_person(
    connection: sqlite3.Connection, name: str, phone: str, password_hash: str
) -> Person:
    _check_free(connection, None, name=name, phone=phone)
    user_id = connection.execute(
        "INSERT INTO users (password_hash, created_at) VALUES (?, ?)",
        (password_hash, int(time.time())),
    ).lastrowid
    connection.execute(
        "INSERT INTO party_people (user_id, phone, name) VALUES (?, ?, ?)", (user_id, phone, name)
    )
    found = person_by(connection, "user_id", user_id)
    assert found is not None
    return found


def _check_free(connection: sqlite3.Connection, user_id: int | None, **values: str | None) -> None:
    for column, code in (("phone", "PhoneAlreadyUse"), ("name", "NameAlreadyUse")):
        value = values.get(column)
        if value is None:
            continue
        row = connection.execute(
            f"SELECT user_id FROM party_people WHERE {column} = ?", (value,)
        ).fetchone()
        if row is not None and row[0] != user_id:
            raise Conflict(code)


def update_person(
    connection: sqlite3.Connection, user_id: int, name: str | None, phone: str | None
) -> Person:
    _check_free(connection, user_id, name=name, phone=phone)
    connection.execute(
        "UPDATE party_people SET name = coalesce(?, name), phone = coalesce(?, phone)"
        " WHERE user_id = ?",
        (name, phone, user_id),
    )
    found = person_by(connection, "user_id", user_id)
    assert found is not None
    return found


def set_password(connection: sqlite3.Connection, user_id: int, password_hash: str) -> None:
    connection.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


def set_image(
    connection: sqlite3.Connection, user_id: int, media_id: str
) -> tuple[Person, str | None]:
    """Make the media the user's image; returns the person, and the image it replaced,
    now deleted, whose file the caller removes.

    The replaced image goes (only an image upload makes one, so no event shows it): a
    user who changes their image would otherwise fill their quota with images nobody
    can see or name.
    """
    (old,) = connection.execute(
        "SELECT image_id FROM party_people WHERE user_id = ?", (user_id,)
    ).fetchone()
    connection.execute(
        "UPDATE party_people SET image_id = ? WHERE user_id = ?", (media_id, user_id)
    )
    replaced = None
    deleting = "DELETE FROM media WHERE id = ? AND owner_id = ?"
    if old is not None and connection.execute(deleting, (old, user_id)).rowcount:
        replaced = old
    found = person_by(connection, "user_id", user_id)
    assert found is not None
    return found, replaced


def open_event_of(connection: sqlite3.Connection, user_id: int) -> str | None:
    row = connection.execute(
        "SELECT id FROM party_events WHERE owner_id = ? AND closed = 0", (user_id,)
    ).fetchone()
    return str(row[0]) if row else None


# -- media ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """What one user may keep uploaded."""

    files: int
    bytes: int


def check_quota(connection: sqlite3.Connection, owner_id: int, size: int, quota: Quota) -> None:
    """Raise Conflict when the owner's media, with `size` bytes more, would exceed `quota`.

    From the `media_owner` index alone, whose rows of one owner the quota bounds.
    """
    files, used = connection.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM media WHERE owner_id = ?", (owner_id,)
    ).fetchone()
    if files >= quota.files or used + size > quota.bytes:
        raise Conflict("MediaQuotaExceeded")


def add_media(
    connection: sqlite3.Connection,
    media_id: str,
    owner_id: int,
    name: str,
    content_type: str,
    size: int,
    quota: Quota,
) -> None:
    """Store the media's row; raises Conflict, storing nothing, beyond the owner's quota."""
    check_quota(connection, owner_id, size, quota)
    connection.execute(
        "INSERT INTO media (id, owner_id, name, content_type, size, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (media_id, owner_id, name, content_type, size, now_iso()),
    )


def media(connection: sqlite3.Connection, media_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        "SELECT id, name, size, content_type, owner_id FROM media WHERE id = ?", (media_id,)
    ).fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "size": row[2], "contentType": row[3], "ownerId": row[4]}


def delete_media(connection: sqlite3.Connection, media_id: str) -> list[str]:
    """Remove the media; returns the events it was shown in."""
    events = [
        event
        for (event,) in connection.execute(
            "SELECT event_id FROM party_event_media WHERE media_id = ?", (media_id,)
        )
    ]
    connection.execute("DELETE FROM media WHERE id = ?", (media_id,))
    return events


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: str
    owner_id: int
    name: str
    address: str
    x: float
    y: float
    closed: bool


def event(connection: sqlite3.Connection, event_id: str) -> Event | None:
    row = connection.execute(
        "SELECT id, owner_id, name, address, x, y, closed FROM party_events WHERE id = ?",
        (event_id,),
    ).fetchone()
    return Event(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6])) if row else None


def create_event(
    connection: sqlite3.Connection, owner_id: int, name: str, address: str, x: float, y: float
) -> Event:
    if open_event_of(connection, owner_id) is not None:
        raise Conflict("OwnerAlreadyHasEvent")
    event_id = str(uuid.uuid4())
    connection.execute(
        "INSERT INTO party_events (id, owner_id, name, address, x, y, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event_id, owner_id, name, address, x, y, now_iso()),
    )
    return Event(event_id, owner_id, name, address, x, y, False)


def update_event(
    connection: sqlite3.Connection, event_id: str, address: str, x: float, y: float
) -> Event:
    connection.execute(
        "UPDATE party_events SET address = ?, x = ?, y = ? WHERE id = ?", (address, x, y, event_id)
    )
    found = event(connection, event_id)
    assert found is not None
    return found


def close_event(connection: sqlite3.Connection, event_id: str) -> None:
    connection.execute("UPDATE party_events SET closed = 1 WHERE id = ?", (event_id,))


def in_range(
    connection: sqlite3.Connection, x: float, y: float, width: float, height: float
) -> list[Event]:
    rows = connection.execute(
        "SELECT id, owner_id, name, address, x, y, closed FROM party_events"
        " WHERE closed = 0 AND x BETWEEN ? AND ? AND y BETWEEN ? AND ?"
        " ORDER BY created_at LIMIT 500",
        (x - width / 2, x + width / 2, y - height / 2, y + height / 2),
    ).fetchall()
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]


def event_media(connection: sqlite3.Connection, event_id: str) -> list[dict[str, str]]:
    return [
        {"id": media_id, "contentType": content_type}
        for media_id, content_type in connection.execute(
            "SELECT m.id, m.content_type FROM party_event_media AS e"
            " JOIN media AS m ON m.id = e.media_id"
            " WHERE e.event_id = ? ORDER BY e.added_at, m.id",
            (event_id,),
        )
    ]


def attach_media(connection: sqlite3.Connection, event_id: str, media_id: str, limit: int) -> None:
    """Show the media on the event; raises Conflict when it shows `limit` already (so
    that an event's page, read on the loop's thread, stays bounded)."""
    (shown,) = connection.execute(
        "SELECT count(*) FROM party_event_media WHERE event_id = ?", (event_id,)
    ).fetchone()
    if shown >= limit:
        raise Conflict("TooManyMedia")
    connection.execute(
        "INSERT OR IGNORE INTO party_event_media (event_id, media_id, added_at) VALUES (?, ?, ?)",
        (event_id, media_id, now_iso()),
    )


def detach_media(connection: sqlite3.Connection, event_id: str, media_id: str) -> bool:
    return (
        connection.execute(
            "DELETE FROM party_event_media WHERE event_id = ? AND media_id = ?",
            (event_id, media_id),
        ).rowcount
        == 1
    )


def add_chat(connection: sqlite3.Connection, event_id: str, user_id: int, message: str) -> None:
    connection.execute(
        "INSERT INTO party_chat (event_id, user_id, message, created_at) VALUES (?, ?, ?, ?)",
        (event_id, user_id, message, now_iso()),
    )


def media_and_chat(
    connection: sqlite3.Connection, event_id: str
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """What an event's page shows besides the event: its media and its latest chat."""
    return event_media(connection, event_id), chat(connection, event_id)


def chat(connection: sqlite3.Connection, event_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """The event's latest messages, oldest first, with the authors as they are now."""
    rows = connection.execute(
        "SELECT c.user_id, p.name, p.image_id, c.message FROM party_chat AS c"
        " LEFT JOIN party_people AS p ON p.user_id = c.user_id WHERE c.event_id = ?"
        " ORDER BY c.id DESC LIMIT ?",
        (event_id, limit),
    ).fetchall()
    rows.reverse()
    return [
        {"userId": str(user), "userName": name or "", "userImageId": image, "message": message}
        for user, name, image, message in rows
    ]
