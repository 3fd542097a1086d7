"""Storing a passive tick's rows: all at once, the stale ones found and left alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from msgspec.structs import replace

from handlers.clicker import store
from handlers.clicker.rules import Catalogue, Progress
from scripts.seed import clicker_catalogue
from storage import schema

USERS = (1, 2, 3)


@pytest.fixture
def connection(tmp_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(tmp_path / "clicker.db", isolation_level=None)
    schema.prepare(connection)
    connection.executemany(
        "INSERT INTO users (id, email, created_at) VALUES (?, ?, 0)",
        [(user_id, f"player{user_id}@example.com") for user_id in USERS],
    )
    connection.executemany(
        "INSERT INTO clicker_players (user_id, money, dishes) VALUES (?, 100, 5)",
        [(user_id,) for user_id in USERS],
    )
    return connection


@pytest.fixture(scope="module")
def start() -> Progress:
    upgrades, levels = clicker_catalogue()
    return replace(Progress.new(Catalogue.build(upgrades, levels)), money=100, dishes=5)


def _money_and_dishes(connection: sqlite3.Connection) -> list[tuple[int, int, int]]:
    return connection.execute(
        "SELECT user_id, money, dishes FROM clicker_players ORDER BY user_id"
    ).fetchall()


def test_every_row_as_expected_is_stored(connection: sqlite3.Connection, start: Progress) -> None:
    ticks = [(u, start, replace(start, money=100 + u, dishes=6)) for u in USERS]
    assert store.save_ticks(connection, ticks) == set()
    assert _money_and_dishes(connection) == [(1, 101, 6), (2, 102, 6), (3, 103, 6)]


def test_a_stale_row_is_named_and_left_alone(
    connection: sqlite3.Connection, start: Progress
) -> None:
    connection.execute("UPDATE clicker_players SET money = 900 WHERE user_id = 2")
    ticks = [(u, start, replace(start, money=100 + u, dishes=6)) for u in USERS]
    assert store.save_ticks(connection, ticks) == {2}
    assert _money_and_dishes(connection) == [(1, 101, 6), (2, 900, 5), (3, 103, 6)]


def test_a_failing_row_raises_inside_the_callers_savepoint(
    connection: sqlite3.Connection, start: Progress
) -> None:
    """As in a group commit: the request's savepoint undoes the tick's, nothing stays."""
    ticks = [(u, start, replace(start, money=100 + u, dishes=6)) for u in USERS]
    ticks[1] = (2, start, replace(start, dishes=-1))  # the CHECK constraint refuses it
    connection.execute("BEGIN")
    connection.execute("SAVEPOINT request")
    with pytest.raises(sqlite3.IntegrityError):
        store.save_ticks(connection, ticks)
    connection.execute("ROLLBACK TO request")
    connection.execute("RELEASE request")
    connection.execute("COMMIT")
    assert _money_and_dishes(connection) == [(1, 100, 5), (2, 100, 5), (3, 100, 5)]
