"""The request log: each user's last `CAPACITY` answers in each app, for idempotent retries.

An app writes the answer in the same transaction as the effect it answers,
so a request is either applied and logged or neither: a retry after a crash
finds the answer if and only if the effect is there.

The log is a ring per (user, app): the app numbers a user's answers (`seq`, from
`recent`'s `next_seq` on), and answer `seq` is written over the one `CAPACITY`
before it, in slot `seq % CAPACITY`. So the log never holds more than `CAPACITY`
rows per user and app, with no index to keep and no row to delete later for a
user who goes on playing. Answers past the idempotency window are forgotten by
`prune`, a walk over the users in bounded chunks.

An answer reaches the ring in two steps. `remember` appends it to the journal,
whose rows go at the end of one B-tree, so the answers of one group commit share a
few pages; written straight into the ring, each answer dirtied its user's page of
the ring, and every commit wrote one page per user in it to the WAL. `fold` moves
the journal into the ring, in the order the answers were given, a few times a
second: a user's page of the ring is written once a fold, not once a commit.

Invariant: the ring and the journal together hold every answer remembered, except
those older than the ring's newest `CAPACITY`, those pruned, and those of users
deleted since. `recent` folds first, so what it reads is whole.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

CAPACITY = 256  # also in schema.sql's CHECKs
# Seconds between folds. Less often, a fold is a longer statement on the loop's thread
# (at 15,000 answers a second, folds a second apart put a cook's p99 at 13 ms against
# 4 ms); more often, each user's page of the ring is written more often.
FOLD_EVERY = 0.1
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
    """Store the user's answer number `seq` in the app; the next `fold` writes it over the
    one `CAPACITY` before it."""
    connection.execute(
        "INSERT INTO request_journal"
        " (user_id, scope, seq, request_id, action, response, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, scope, seq, request_key, action, answer, now),
    )


def fold(connection: sqlite3.Connection) -> int:
    """Move the journal's answers into the ring, oldest first (so of two answers for one
    slot the newer stays); returns how many moved. Run it in a write transaction."""
    # A user deleted by a tool with foreign keys off leaves answers in the journal: they
    # are dropped here, as the ring's foreign key would refuse them, and one refusal would
    # stop every fold (and with `recent`, every player's load).
    moved = connection.execute(
        "INSERT INTO request_log"
        " (user_id, scope, slot, seq, request_id, action, response, created_at)"
        f" SELECT user_id, scope, seq % {CAPACITY}, seq, request_id, action, response,"
        " created_at FROM request_journal AS j"
        " WHERE EXISTS (SELECT 1 FROM users WHERE id = j.user_id) ORDER BY j.rowid"
        " ON CONFLICT (user_id, scope, slot) DO UPDATE SET"
        " seq = excluded.seq, request_id = excluded.request_id, action = excluded.action,"
        " response = excluded.response, created_at = excluded.created_at",
    ).rowcount
    connection.execute("DELETE FROM request_journal")
    return moved


def recent(connection: sqlite3.Connection, user_id: int, scope: str, since: int) -> Ring:
    """The user's ring in the app: its next number, and the answers given since `since`.

    Folds the journal first, so it must run in a write transaction."""
    fold(connection)
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
