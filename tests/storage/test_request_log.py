"""The request log: a ring of each user's newest answers per app, filled from its journal
by folds, and pruning in chunks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage import request_log, schema
from storage.request_log import CAPACITY, Ring


def _database(tmp_path: Path, users: int = 2) -> sqlite3.Connection:
    connection = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    schema.prepare(connection)
    connection.executemany(
        "INSERT INTO users (id, email, created_at) VALUES (?, ?, 0)",
        [(n, f"u{n}@b.co") for n in range(1, users + 1)],
    )
    return connection


def _rows(connection: sqlite3.Connection, table: str = "request_log") -> int:
    count: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


def test_recent_gives_the_answers_within_the_window_in_order(tmp_path: Path) -> None:
    connection = _database(tmp_path)
    assert request_log.recent(connection, 1, "clicker", since=0) == Ring(0, [])
    for n in range(10):
        request_log.remember(connection, 1, "clicker", n, f'"r{n}"', "cook", b"{}", 100 + n)
    request_log.remember(connection, 2, "clicker", 0, '"r0"', "cook", b"{}", 100)
    request_log.remember(connection, 1, "other-app", 0, '"r0"', "cook", b"{}", 100)
    ring = request_log.recent(connection, 1, "clicker", since=106)
    assert ring == Ring(10, [(f'"r{n}"', "cook", b"{}", 100 + n) for n in range(6, 10)])


def test_answers_wait_in_the_journal_until_a_fold_moves_them(tmp_path: Path) -> None:
    connection = _database(tmp_path)
    request_log.remember(connection, 1, "clicker", 0, '"r0"', "cook", b"{}", 100)
    request_log.remember(connection, 2, "clicker", 0, '"r0"', "sell", b"[]", 101)
    assert (_rows(connection), _rows(connection, "request_journal")) == (0, 2)
    assert request_log.fold(connection) == 2
    assert (_rows(connection), _rows(connection, "request_journal")) == (2, 0)
    assert request_log.fold(connection) == 0
    stored = connection.execute(
        "SELECT user_id, scope, slot, seq, request_id, action, response, created_at"
        " FROM request_log ORDER BY user_id"
    ).fetchall()
    assert stored == [
        (1, "clicker", 0, 0, '"r0"', "cook", b"{}", 100),
        (2, "clicker", 0, 0, '"r0"', "sell", b"[]", 101),
    ]


def test_a_fold_drops_the_answers_of_a_user_deleted_since(tmp_path: Path) -> None:
    """A tool that deletes a user with foreign keys off leaves the user's answers in the
    journal; the fold drops them and still moves everyone else's."""
    connection = _database(tmp_path)
    request_log.remember(connection, 1, "clicker", 0, '"r0"', "cook", b"{}", 100)
    request_log.remember(connection, 2, "clicker", 0, '"r0"', "cook", b"{}", 100)
    connection.execute("PRAGMA foreign_keys = OFF")
    connection.execute("DELETE FROM users WHERE id = 1")
    connection.execute("PRAGMA foreign_keys = ON")
    assert request_log.fold(connection) == 1
    assert (_rows(connection), _rows(connection, "request_journal")) == (1, 0)
    assert request_log.recent(connection, 2, "clicker", since=0) == Ring(
        1, [('"r0"', "cook", b"{}", 100)]
    )


def test_recent_sees_answers_not_yet_folded(tmp_path: Path) -> None:
    connection = _database(tmp_path)
    request_log.remember(connection, 1, "clicker", 0, '"r0"', "cook", b"{}", 100)
    request_log.fold(connection)
    request_log.remember(connection, 1, "clicker", 1, '"r1"', "cook", b"{}", 101)
    ring = request_log.recent(connection, 1, "clicker", since=0)
    assert ring == Ring(2, [('"r0"', "cook", b"{}", 100), ('"r1"', "cook", b"{}", 101)])


def test_the_ring_keeps_the_newest_answers_and_no_more(tmp_path: Path) -> None:
    """Answer `CAPACITY + 5` overwrites answer 5, also when both wait for the same fold:
    the log holds `CAPACITY` rows, the next number follows the newest, and the oldest
    kept is answer 6."""
    connection = _database(tmp_path)
    for seq in range(CAPACITY + 6):
        request_log.remember(connection, 1, "clicker", seq, f'"r{seq}"', "cook", b"{}", seq)
    assert request_log.fold(connection) == CAPACITY + 6
    assert _rows(connection) == CAPACITY
    ring = request_log.recent(connection, 1, "clicker", since=0)
    assert ring.next_seq == CAPACITY + 6
    assert [key for key, *_ in ring.answers] == [f'"r{seq}"' for seq in range(6, CAPACITY + 6)]


def test_prune_walks_the_users_in_chunks_and_forgets_only_old_answers(tmp_path: Path) -> None:
    """Five users with ten answers each (times 0 to 9): a walk of chunks of 12 rows looks
    at two users a step (12 rows, and the rest of the second user's) and ends at the
    third step; every answer older than 5 is gone, every newer one kept."""
    connection = _database(tmp_path, users=5)
    for user in range(1, 6):
        for seq in range(10):
            request_log.remember(connection, user, "clicker", seq, f'"r{seq}"', "cook", b"{}", seq)
    request_log.fold(connection)
    steps = []
    after: int | None = 0
    while after is not None:
        after = request_log.prune(connection, before=5, after_user=after, rows=12)
        steps.append((after, _rows(connection)))
    assert steps == [(2, 40), (4, 30), (None, 25)]
    for user in range(1, 6):
        ring = request_log.recent(connection, user, "clicker", since=0)
        assert ring == Ring(10, [(f'"r{seq}"', "cook", b"{}", seq) for seq in range(5, 10)])
