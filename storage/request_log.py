"""The request log: each user's last `CAPACITY` answers in each app, for idempotent retries.

An app writes the answer in the same transaction as the effect it answers,
so a request is either applied and logged or neither: a retry after a crash
finds the answer if and only if the effect is there.

The log is a ring per (user, app): the app numbers a user's answers (`seq`, from
`recent`'s `next_seq` on), and answer `seq` is written over the one `CAPACITY`
before it, in slot `seq % CAPACITY`. So the log never holds more than `CAPACITY`
rows per user and app, and remembering an answer rewrites one row of one B-tree
in place: no index to keep, and no row to delete later for a user who goes on
playing. Answers past the idempotency window are forgotten by `prune`, a walk
over the users in bounded chunks.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

CAPACITY = 256  # also in schema.sql's CHECKs
Answer = tuple[str, str, bytes, int]  # request key, action, encoded answer, unix time


class Ring(NamedTuple):
    next_seq: int  # the number the user's next answer in the app gets
    answers: list[Answer]  # those within the window, oldest first


def remember(
    connection: sqlite3.Connection,
    user_id: int,
    scope: str,
    seq: int,
    request_key: str,
    action: str,
    answer: bytes,
    now: int,
) -> None:
    """Store the user's answer number `seq` in the app, over the one `CAPACITY` before it."""
    connection.execute(
        "INSERT INTO request_log"
        " (user_id, scope, slot, seq, request_id, action, response, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, scope, slot) DO UPDATE SET"
        " seq = excluded.seq, request_id = excluded.request_id, action = excluded.action,"
        " response = excluded.response, created_at = excluded.created_at",
        (user_id, scope, seq % CAPACITY, seq, request_key, action, answer, now),
    )


def recent(connection: sqlite3.Connection, user_id: int, scope: str, since: int) -> Ring:
    """The user's ring in the app: its next number, and the answers given since `since`."""
    rows = connection.execute(
        "SELECT seq, request_id, action, response, created_at FROM request_log"
        " WHERE user_id = ? AND scope = ? ORDER BY seq",
        (user_id, scope),
    ).fetchall()
    return Ring(
        rows[-1][0] + 1 if rows else 0,
        [(key, action, answer, at) for _, key, action, answer, at in rows if at >= since],
    )


def prune(connection: sqlite3.Connection, before: int, after_user: int, rows: int) -> int | None:
    """Forget the answers older than `before` among the next `rows` rows after user
    `after_user`'s (and the rest of the last user's); returns that last user, after whom
    the walk goes on, or None when it has reached the end.

    By ranges of the primary key: the log has no index by time, which every answer
    would have to update.
    """
    bound = connection.execute(
        "SELECT user_id FROM request_log WHERE user_id > ? ORDER BY user_id LIMIT 1 OFFSET ?",
        (after_user, rows),
    ).fetchone()
    if bound is None:
        connection.execute(
            "DELETE FROM request_log WHERE user_id > ? AND created_at < ?", (after_user, before)
        )
        return None
    last: int = bound[0]
    connection.execute(
        "DELETE FROM request_log WHERE user_id > ? AND user_id <= ? AND created_at < ?",
        (after_user, last, before),
    )
    return last
