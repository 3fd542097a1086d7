"""The request log: the newest answers of a user, and pruning in bounded chunks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage import request_log, schema


def _database(tmp_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    schema.prepare(connection)
    connection.executemany(
        "INSERT INTO users (id, email, created_at) VALUES (?, ?, 0)", [(1, "a@b.co"), (2, "c@d.co")]
    )
    return connection


def test_recent_gives_the_newest_answers_in_order(tmp_path: Path) -> None:
    connection = _database(tmp_path)
    for n in range(10):
        request_log.remember(connection, 1, "clicker", f'"r{n}"', "cook", b"{}", 100 + n)
    request_log.remember(connection, 2, "clicker", '"r0"', "cook", b"{}", 100)
    request_log.remember(connection, 1, "other-app", '"r0"', "cook", b"{}", 100)
    rows = request_log.recent(connection, 1, "clicker", since=103, limit=4)
    assert [row[0] for row in rows] == ['"r6"', '"r7"', '"r8"', '"r9"']
    assert rows[0] == ('"r6"', "cook", b"{}", 106)


def test_prune_deletes_at_most_a_chunk(tmp_path: Path) -> None:
    connection = _database(tmp_path)
    for n in range(25):
        request_log.remember(connection, 1, "clicker", f'"r{n}"', "cook", b"{}", n)
    assert request_log.prune(connection, before=20, limit=8) == 8
    assert request_log.prune(connection, before=20, limit=8) == 8
    assert request_log.prune(connection, before=20, limit=8) == 4
    assert request_log.prune(connection, before=20, limit=8) == 0
    remaining = connection.execute("SELECT count(*) FROM request_log").fetchone()[0]
    assert remaining == 5
