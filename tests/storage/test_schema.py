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
    assert upgraded.execute("SELECT * FROM request_log").fetchall() == [answer]


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
