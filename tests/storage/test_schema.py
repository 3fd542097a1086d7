"""schema.sql and the migrations reach the same schema; old databases are migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import schema


def _schema_of(connection: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = connection.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [(kind, name, " ".join(sql.split())) for kind, name, sql in rows]


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_fresh_schema_equals_every_migration_applied(tmp_path: Path) -> None:
    fresh = _open(tmp_path / "fresh.db")
    schema.prepare(fresh)
    migrated = _open(tmp_path / "migrated.db")
    for step in schema.migrations():
        migrated.executescript(step.path.read_text(encoding="utf-8"))
    assert _schema_of(fresh) == _schema_of(migrated)
    assert fresh.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version()
    assert schema.latest_version() == len(schema.migrations()) >= 2


def test_an_older_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _open(path)
    first = schema.migrations()[0]
    old.executescript(f"{first.path.read_text()}\nPRAGMA user_version = 1;")
    old.execute("INSERT INTO users (email, created_at) VALUES ('old@example.com', 1)")
    answer = (1, "clicker", "r-1", "cook", b'{"money":1}', 2)
    old.execute("INSERT INTO request_log VALUES (?, ?, ?, ?, ?, ?)", answer)
    old.close()

    upgraded = _open(path)
    schema.prepare(upgraded)
    reference = _open(tmp_path / "fresh.db")
    schema.prepare(reference)
    assert _schema_of(upgraded) == _schema_of(reference)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version()
    assert upgraded.execute("SELECT email FROM users").fetchall() == [("old@example.com",)]
    # The answer is the first in its user's ring (migration 0009): slot 0, number 0.
    assert upgraded.execute("SELECT * FROM request_log").fetchall() == [
        (1, "clicker", 0, 0, *answer[2:])
    ]


def test_the_request_log_becomes_a_ring_of_the_newest_answers(tmp_path: Path) -> None:
    """Migration 0009 keeps each user's and app's newest 256 answers, numbered from 0,
    oldest first; answers given in the same second keep the order they were stored in."""
    path = tmp_path / "log.db"
    old = _open(path)
    for step in schema.migrations()[:8]:
        old.executescript(step.path.read_text(encoding="utf-8"))
    old.execute("PRAGMA user_version = 8")
    old.executemany(
        "INSERT INTO users (id, email, created_at) VALUES (?, ?, 0)", [(1, "a@b.co"), (2, "c@d.co")]
    )
    answers = [(1, "clicker", f"r{n}", "cook", b"{}", n // 2) for n in range(300)]
    answers += [(2, "clicker", "z", "sell", b"[]", 7), (1, "garage", "y", "buy", b"0", 9)]
    old.executemany("INSERT INTO request_log VALUES (?, ?, ?, ?, ?, ?)", answers)
    old.close()

    upgraded = _open(path)
    schema.prepare(upgraded)
    rows = upgraded.execute(
        "SELECT user_id, scope, slot, seq, request_id, created_at FROM request_log"
        " ORDER BY user_id, scope, seq"
    ).fetchall()
    assert rows == [
        *[(1, "clicker", seq, seq, f"r{seq + 44}", (seq + 44) // 2) for seq in range(256)],
        (1, "garage", 0, 0, "y", 9),
        (2, "clicker", 0, 0, "z", 7),
    ]


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    connection = _open(tmp_path / "new.db")
    connection.execute(f"PRAGMA user_version = {schema.latest_version() + 1}")
    with pytest.raises(schema.SchemaError, match="newer than this code"):
        schema.prepare(connection)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    connection = _open(tmp_path / "other.db")
    connection.execute("CREATE TABLE something (x)")
    with pytest.raises(schema.SchemaError, match="not a Hearth database"):
        schema.prepare(connection)


def test_tables_are_strict_and_money_cannot_go_negative(tmp_path: Path) -> None:
    connection = _open(tmp_path / "strict.db")
    schema.prepare(connection)
    tables = connection.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table'"
    ).fetchall()
    assert tables and all(sql.rstrip().endswith(("STRICT", "WITHOUT ROWID")) for _, sql in tables)
    connection.execute("INSERT INTO users (id, email, created_at) VALUES (1, 'a@b.co', 0)")
    connection.execute("INSERT INTO clicker_players (user_id) VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        connection.execute("UPDATE clicker_players SET money = -1 WHERE user_id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT"):
        connection.execute("UPDATE clicker_players SET money = 'lots' WHERE user_id = 1")


def test_levels_keep_their_rows_in_the_profiles_order(tmp_path: Path) -> None:
    """Migration 0011 keys a player's levels by type, then number, and keeps every row."""
    path = tmp_path / "levels.db"
    old = _open(path)
    for step in schema.migrations()[:10]:
        old.executescript(step.path.read_text(encoding="utf-8"))
    old.execute("PRAGMA user_version = 10")
    old.execute("INSERT INTO users (id, email, created_at) VALUES (1, 'a@b.co', 0)")
    old.execute(
        "INSERT INTO garage_players (user_id, token_hash, device, user_name)"
        " VALUES (1, 'h', 'iOS', 'p')"
    )
    levels = [(1, 2, "race", 1, 20.25), (1, 1, "race", 3, 40.5), (1, 7, "adventure", 0, 0.1)]
    old.executemany("INSERT INTO garage_user_levels VALUES (?, ?, ?, ?, ?)", levels)
    old.close()

    upgraded = _open(path)
    schema.prepare(upgraded)
    # No ORDER BY: the order the rows come in is what the profile's list relies on.
    rows = upgraded.execute("SELECT * FROM garage_user_levels WHERE user_id = 1").fetchall()
    assert rows == [levels[2], levels[1], levels[0]]
