"""The writer groups concurrent writes into one transaction and answers after the commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from storage import Database, StorageError, open_database
from storage.database import THREADED_COMMITS


def _insert(value: int, connection: sqlite3.Connection) -> int:
    connection.execute("INSERT INTO users (email, created_at) VALUES (?, 0)", (f"u{value}@x.io",))
    return value


def _count(connection: sqlite3.Connection) -> int:
    count: int = connection.execute("SELECT count(*) FROM users").fetchone()[0]
    return count


@contextmanager
def _transactions(db: Database) -> Iterator[list[str]]:
    """The statements that begin, end or divide the writer's transactions while in the
    block: what the writer did with its batches, as SQLite saw it."""
    statements: list[str] = []

    def trace(statement: str) -> None:
        if statement.split(" ", 1)[0] in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
            statements.append(statement)

    db._writer.set_trace_callback(trace)
    try:
        yield statements
    finally:
        db._writer.set_trace_callback(None)


async def test_concurrent_writes_share_transactions_and_each_is_answered(tmp_path: Path) -> None:
    results: list[int] = []
    async with open_database(tmp_path / "db.sqlite") as db:

        async def one(value: int) -> None:
            results.append(await db.write(lambda c: _insert(value, c)))

        with _transactions(db) as statements:
            async with trio.open_nursery() as nursery:
                for value in range(200):
                    nursery.start_soon(one, value)
        assert sorted(results) == list(range(200))
        assert await db.read(_count) == 200  # answered only after the commit: readers see it
    transactions = len(statements) // 2
    assert statements == ["BEGIN IMMEDIATE", "COMMIT"] * transactions
    assert transactions < 200 / 4, transactions  # grouped, not one transaction each


async def _in_one_batch(path: Path, works: list[Any]) -> list[Any]:
    """Queue `works` in this order, then let the writer take them all as one batch;
    returns what each write answered (or raised)."""
    db = Database(path)
    answers: list[Any] = [None] * len(works)

    async def write(index: int) -> None:
        try:
            answers[index] = await db.write(works[index])
        except Exception as error:
            answers[index] = error

    try:
        async with trio.open_nursery() as writer:
            async with trio.open_nursery() as writes:
                for index in range(len(works)):
                    writes.start_soon(write, index)
                    await trio.testing.wait_all_tasks_blocked()  # queued before the next
                writer.start_soon(db.run_writer)
            db.close_writes()
        assert _count(db._writer) == sum(isinstance(answer, int) for answer in answers)
    finally:
        db.close()
    return answers


def _refuse_unchanged(connection: sqlite3.Connection) -> None:
    connection.execute("UPDATE users SET email = 'x' WHERE id = -1")  # changes no row
    raise ValueError("refused")


def _refuse_changed(connection: sqlite3.Connection) -> None:
    _insert(1000, connection)
    raise ValueError("refused")


@pytest.mark.parametrize(
    ("refuse", "runs"),
    [
        (_refuse_unchanged, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        # It changed a row: the batch runs again, each request in its own savepoint.
        (_refuse_changed, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ],
)
async def test_a_failing_request_leaves_nothing_and_the_others_commit_once(
    tmp_path: Path, refuse: Any, runs: list[int]
) -> None:
    ran: list[int] = []

    def counted(value: int, connection: sqlite3.Connection) -> int:
        ran.append(value)
        return _insert(value, connection)

    works = [partial(counted, value) for value in range(10)]
    answers = await _in_one_batch(tmp_path / "db.sqlite", [*works[:5], refuse, *works[5:]])
    assert ran == runs
    assert answers[:5] + answers[6:] == list(range(10))  # committed (the count is checked)
    assert isinstance(answers[5], ValueError)


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


async def test_writers_wait_for_room_in_a_full_queue_and_all_are_answered(
    tmp_path: Path,
) -> None:
    async with open_database(tmp_path / "db.sqlite", max_batch=1) as db:  # a queue of 4
        results: list[int] = []

        async def one(value: int) -> None:
            results.append(await db.write(partial(_insert, value)))

        async with trio.open_nursery() as nursery:
            for value in range(50):
                nursery.start_soon(one, value)
        assert sorted(results) == list(range(50))
        assert await db.read(_count) == 50


async def test_a_caller_cancelled_after_queueing_its_write_is_not_answered_and_it_commits(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "db.sqlite")
    answers: list[int] = []
    try:
        async with trio.open_nursery() as writer:
            async with trio.open_nursery() as writes:
                gone = trio.CancelScope()

                async def cancelled() -> None:
                    with gone:
                        answers.append(await db.write(partial(_insert, 1)))

                async def answered() -> None:
                    answers.append(await db.write(partial(_insert, 2)))

                writes.start_soon(cancelled)
                await trio.testing.wait_all_tasks_blocked()  # queued, waiting for its commit
                gone.cancel()
                writes.start_soon(answered)
                await trio.testing.wait_all_tasks_blocked()
                writer.start_soon(db.run_writer)
            db.close_writes()
        assert gone.cancelled_caught
        assert answers == [2]
        assert _count(db._writer) == 2  # the withdrawn caller's write committed all the same
    finally:
        db.close()


async def test_a_write_from_a_cancelled_caller_is_not_queued(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite") as db:
        with trio.CancelScope() as scope:
            scope.cancel()
            await db.write(partial(_insert, 1))
        assert scope.cancelled_caught
        await db.write(partial(_insert, 2))  # committed after anything queued before it
        assert await db.read(_count) == 1


async def test_commits_go_to_a_worker_thread_for_a_while_after_three_slow_ones_in_a_row(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A COMMIT is slow here when the trace sleeps through it. Slow commits alone or two
    in a row stay on the loop's thread; after the third in a row, those of the next
    THREADED_COMMITS seconds run in a worker thread, then the loop's thread again."""
    loop_thread = threading.get_ident()
    slow = iter([True, False, True, True, False, True, True, True, False, False, False])
    on_loop: list[bool] = []

    def trace(statement: str) -> None:
        if statement == "COMMIT":
            on_loop.append(threading.get_ident() == loop_thread)
            if next(slow):
                time.sleep(0.3)  # real time: the autojump clock does not move

    async with open_database(tmp_path / "db.sqlite", slow_commit=0.25) as db:
        db._writer.set_trace_callback(trace)
        for value in range(9):
            await db.write(partial(_insert, value))
        await trio.sleep(THREADED_COMMITS - 1)
        await db.write(partial(_insert, 9))
        await trio.sleep(2)
        await db.write(partial(_insert, 10))
        assert await db.read(_count) == 11
    assert on_loop == [True] * 8 + [False, False, True]
    switches = [r for r in caplog.records if "commits run in a worker thread for 60 s" in r.message]
    assert len(switches) == 1


async def test_readers_cannot_write(tmp_path: Path) -> None:
    async with open_database(tmp_path / "db.sqlite") as db:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.read(lambda c: _insert(1, c))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.read_now(lambda c: _insert(1, c))


async def test_reads_now_see_what_is_committed_and_nothing_else(tmp_path: Path) -> None:
    """`read_now` sees a write once it is committed, and never one still in its batch."""
    async with open_database(tmp_path / "db.sqlite") as db:
        await db.write(partial(_insert, 1))
        count = "SELECT count(*) FROM users"

        def insert_and_look(connection: sqlite3.Connection) -> int:
            _insert(2, connection)
            seen: int = db.read_now(lambda c: c.execute(count).fetchone()[0])
            return seen

        assert await db.write(insert_and_look) == 1  # its own batch is not committed yet
        assert db.read_now(lambda c: c.execute(count).fetchone()[0]) == 2


async def test_reads_now_of_one_batch_share_a_snapshot_that_ends_with_it(tmp_path: Path) -> None:
    """Another process's write, committed between two `read_now`s of one task step, is not
    seen by the second; after a schedule point (a new batch of task steps) it is. Without
    the writer task, each `read_now` is a snapshot of its own."""
    path = tmp_path / "db.sqlite"
    async with open_database(path) as db:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            assert db.read_now(_count) == 0
            _insert(1, other)
            assert db.read_now(_count) == 0
            await trio.lowlevel.checkpoint()
            assert db.read_now(_count) == 1
    alone = Database(path, readers=0)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            assert alone.read_now(_count) == 1
            _insert(2, other)
            assert alone.read_now(_count) == 2
    finally:
        alone.close()


def test_reads_now_of_a_new_database_go_on_while_other_connections_close(
    tmp_path: Path,
) -> None:
    """A connection that closes holds the file's pending lock for an instant, and in that
    instant a reader's first shared lock in the same process is refused. `read_now` never
    waits, so its first read must not be that one. 600 new databases each read at once
    while two threads open and close connections (with the lock taken at the first read
    instead of at open, about 5 of them failed here)."""
    path = tmp_path / "db.sqlite"
    Database(path).close()  # created and migrated
    keeper = Database(path, readers=0)  # the process keeps the file open, as a server does
    stop = threading.Event()

    def open_and_close() -> None:
        while not stop.is_set():
            with closing(sqlite3.connect(path)) as connection:
                connection.execute("SELECT count(*) FROM users").fetchone()

    threads = [threading.Thread(target=open_and_close) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(600):
            db = Database(path, readers=0)
            try:
                assert db.read_now(_count) == 0
            finally:
                db.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        keeper.close()


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


# -- a full disk ---------------------------------------------------------------------------
# `PRAGMA max_page_count` on the writer's connection makes SQLite answer SQLITE_FULL
# ("database or disk is full") for any statement that needs a page more, as a full disk
# does (tests/test_disk_full.py fills a real one).

FULL = "storage unavailable: database or disk is full"
_BIG_ANSWER = (
    "INSERT INTO request_log (user_id, scope, slot, seq, request_id, action, response,"
    " created_at) VALUES (1, 'test', 0, 0, ?, 'a', randomblob(20000), 0)"
)
# One statement writing several rows: SQLite keeps a statement journal for it, and on
# SQLITE_FULL undoes that statement alone, not the transaction.
_BIG_ANSWERS = (
    "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3)"
    " INSERT INTO request_log (user_id, scope, slot, seq, request_id, action, response,"
    " created_at) SELECT 1, 'test', i, i, ? || i, 'a', randomblob(20000), 0 FROM n"
)


def _answers(connection: sqlite3.Connection) -> int:
    count: int = connection.execute("SELECT count(*) FROM request_log").fetchone()[0]
    return count


async def _one_batch(db: Database, works: list[Any]) -> tuple[list[str], list[str]]:
    """Write `works` concurrently: each one's outcome, in order, and the writer's
    transaction statements meanwhile (`_transactions`)."""
    outcomes = [""] * len(works)

    async def attempt(index: int) -> None:
        try:
            await db.write(works[index])
            outcomes[index] = "ok"
        except StorageError as error:
            outcomes[index] = str(error)

    with _transactions(db) as statements:
        async with trio.open_nursery() as nursery:
            for index in range(len(works)):
                nursery.start_soon(attempt, index)
    return outcomes, statements


@asynccontextmanager
async def _full_database(path: Path) -> AsyncIterator[Database]:
    """A database with user 1 whose writer cannot grow the file by a single page."""
    async with open_database(path) as db:
        await db.write(lambda c: _insert(1, c))
        pages = await db.write(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        await db.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
        yield db


async def test_a_full_disk_fails_the_whole_batch_and_nothing_of_it_stands(tmp_path: Path) -> None:
    """SQLITE_FULL that undoes the transaction fails every request of the batch with
    StorageError naming the cause, the requests before it included; nothing is written."""
    async with _full_database(tmp_path / "db.sqlite") as db:
        small = [lambda c, v=v: _insert(v, c) for v in range(2, 7)]
        works = [*small[:3], lambda c: c.execute(_BIG_ANSWER, ("big",)), *small[3:]]
        # One transaction, which SQLite undid as a whole: nothing to roll back or commit.
        assert await _one_batch(db, works) == ([FULL] * 6, ["BEGIN IMMEDIATE"])
        assert (await db.read(_count), await db.read(_answers)) == (1, 0)
        assert await db.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()) == ("ok",)


async def test_a_full_disk_undoing_one_statement_fails_only_its_request(tmp_path: Path) -> None:
    """SQLITE_FULL that undoes only its statement fails only that request, with StorageError
    (not a bare sqlite3 error, which would be answered as a bug); the others commit."""
    async with _full_database(tmp_path / "db.sqlite") as db:

        def half_then_full(connection: sqlite3.Connection) -> None:
            _insert(100, connection)
            connection.execute(_BIG_ANSWERS, ("many",))

        works = [lambda c: _insert(2, c), half_then_full, lambda c: _insert(3, c)]
        outcomes, statements = await _one_batch(db, works)
        assert outcomes == ["ok", FULL, "ok"]
        # One batch, run again with a savepoint for each request (in the order Trio queued
        # them) once one of them had changed rows.
        assert statements[:3] == ["BEGIN IMMEDIATE", "ROLLBACK", "BEGIN IMMEDIATE"]
        assert statements[-1] == "COMMIT"
        assert sorted(statements[3:-1]) == sorted(
            ["SAVEPOINT request", "RELEASE request"] * 3 + ["ROLLBACK TO request"]
        )
        # users 1, 2 and 3; none of the half request's user and answers
        assert (await db.read(_count), await db.read(_answers)) == (3, 0)


async def test_writes_succeed_again_once_space_returns(tmp_path: Path) -> None:
    """The writer task goes on after a full disk: the next write, once there is room, commits."""
    async with _full_database(tmp_path / "db.sqlite") as db:

        def big(connection: sqlite3.Connection) -> None:
            connection.execute(_BIG_ANSWER, ("big",))

        with pytest.raises(StorageError, match="database or disk is full"):
            await db.write(big)
        await db.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))  # room again
        await db.write(big)
        assert (await db.read(_count), await db.read(_answers)) == (1, 1)
