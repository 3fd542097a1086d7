"""The writer groups concurrent writes into one transaction and answers after the commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from storage import Database, StorageError, open_database


def _insert(value: int, connection: sqlite3.Connection) -> int:
    connection.execute("INSERT INTO users (email, created_at) VALUES (?, 0)", (f"u{value}@x.io",))
    return value


def _count(connection: sqlite3.Connection) -> int:
    count: int = connection.execute("SELECT count(*) FROM users").fetchone()[0]
    return count


async def test_concurrent_writes_share_transactions_and_each_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = Database._transaction

    async def counting(self: Database, batch: list[Any]) -> None:
        batches.append(len(batch))
        await original(self, batch)

    monkeypatch.setattr(Database, "_transaction", counting)
    results: list[int] = []
    async with open_database(tmp_path / "db.sqlite") as db:

        async def one(value: int) -> None:
            results.append(await db.write(lambda c: _insert(value, c)))

        async with trio.open_nursery() as nursery:
            for value in range(200):
                nursery.start_soon(one, value)
        assert sorted(results) == list(range(200))
        assert await db.read(_count) == 200  # answered only after the commit: readers see it
    assert sum(batches) == 200
    assert len(batches) < 200 / 4, batches  # grouped, not one transaction each


async def test_a_failing_request_is_rolled_back_alone(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite") as db:

        def half_then_fail(connection: sqlite3.Connection) -> None:
            _insert(1000, connection)
            raise ValueError("refused")

        async def fail() -> None:
            with pytest.raises(ValueError, match="refused"):
                await db.write(half_then_fail)

        async with trio.open_nursery() as nursery:
            for value in range(20):
                nursery.start_soon(db.write, lambda c, v=value: _insert(v, c))
            nursery.start_soon(fail)
        assert await db.read(_count) == 20


async def test_a_failed_commit_fails_every_request_of_its_transaction(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite") as db:
        # Deferred foreign keys fail at COMMIT, after every request "succeeded".
        def dangling(connection: sqlite3.Connection) -> None:
            connection.execute("PRAGMA defer_foreign_keys = ON")
            connection.execute("INSERT INTO refresh_families (user_id, created_at) VALUES (999, 0)")

        outcomes: list[str] = []

        async def attempt(work: Any) -> None:
            try:
                await db.write(work)
                outcomes.append("ok")
            except StorageError as error:
                outcomes.append(str(error))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt, dangling)
            nursery.start_soon(attempt, lambda c: _insert(1, c))
        assert len(outcomes) == 2
        assert all(outcome.startswith("storage unavailable") for outcome in outcomes), outcomes
        assert await db.read(_count) == 0
        await db.write(lambda c: _insert(2, c))  # and the writer goes on
        assert await db.read(_count) == 1


async def test_writes_after_shutdown_are_refused_and_queued_ones_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with open_database(path) as db:
        async with trio.open_nursery() as nursery:
            for value in range(10):
                nursery.start_soon(db.write, lambda c, v=value: _insert(v, c))
            await trio.testing.wait_all_tasks_blocked()  # all ten are queued or committing
            db.close_writes()
        with pytest.raises(StorageError, match="shut down"):
            await db.write(lambda c: _insert(99, c))
    check = Database(path)
    assert _count(check._writer) == 10
    check.close()


async def test_readers_cannot_write(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite") as db:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.read(lambda c: _insert(1, c))


async def test_wal_and_synchronous_from_settings(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite", synchronous="NORMAL") as db:
        mode = await db.write(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        sync = await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
    assert (mode, sync) == ("wal", 1)


async def test_a_write_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with open_database(path) as db:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. a command-line tool writing
        async with trio.open_nursery() as nursery:
            nursery.start_soon(db.write, lambda c: _insert(1, c))
            await trio.sleep(0.2)
            assert await db.read(_count) == 0
            other.execute("COMMIT")
        assert await db.read(_count) == 1
        other.close()
