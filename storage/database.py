"""The SQLite layer: one writer task with group commit, and read-only readers.

Every write goes through `Database.write(fn)`: `fn(connection)` runs inside a
transaction owned by the writer task. Requests that arrive while a
transaction is being committed wait and then share the next one (group
commit): one fsync serves them all. A request that raises is rolled back
alone and the others commit: when it had changed rows, the batch runs again
with each request in its own savepoint, so a request's `fn` may run more than
once and must change nothing but the database.

When the storage itself fails (the disk is full, an I/O error) the callers get
`StorageError` and nothing of theirs stands. SQLite decides how much a failed
statement undoes: usually the whole transaction (then every request of the
batch fails, those that had succeeded included), sometimes only the statement
(then only its request fails). A failed COMMIT fails the whole batch. Either
way no request is ever partly applied, and the writer goes on with the next
batch: writes succeed again once space returns, without a restart.

The statements of a transaction run on the event loop's thread: each takes
microseconds, and running them in a worker thread made them fight the loop
for the GIL (a 50-request transaction took 10 ms there, 1.7 ms here). So a
`fn` must be quick: a few statements on indexed rows, never a scan of a large
table. COMMIT (a WAL append and its fsync) runs there too while commits are
quick, and in a worker thread for a while after a few were slow (see `_commit`),
so a slow disk never holds every connection for long. Waiting for another
process's write lock always goes to a worker thread.

Reads run on read-only connections and see only committed data (WAL, so a
reader never waits for the writer). `read_now` runs on the loop's thread, for
reads an index bounds: a point lookup, a page of one index's range (a few
hundred rows at most). A worker thread's round trip costs more than such a
read (a Socket.IO `profile` went from 1,270 to 2,490 round trips/s; a REST
request for a customer's page of 50 orders from 6.5-7.4 to 2.3-3.8 ms of server
CPU). `read` runs in a worker thread, for reads whose cost grows with the data:
a scan, a filter no index covers, a whole table at startup. While the writer task
runs, every `read_now` of one batch of Trio's task steps shares one snapshot,
ended before Trio next waits for I/O (`_SnapshotPerBatch`).

Invariants: only the writer task's connection ever writes; a caller of
`write` is answered only after the transaction holding its changes has
committed (or with the error that undid them), so with synchronous=FULL an
acknowledged write survives `kill -9` and power loss.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import outcome
import trio

from storage import offload, schema

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]

logger = logging.getLogger("hearth.storage")

# COMMITs slower than this (seconds of a slow disk's fsync), SLOW_COMMITS_IN_A_ROW of them,
# held the loop too long: the commits of the next THREADED_COMMITS seconds run in a worker
# thread, then the loop's thread is tried again. In a row, because on a busy host a lone
# COMMIT can take 80 ms (the process was not running), and every COMMIT of a slow disk is
# slow.
SLOW_COMMIT = 0.010
SLOW_COMMITS_IN_A_ROW = 3
THREADED_COMMITS = 60.0


class StorageError(Exception):
    """A write could not be committed (disk full, I/O error, database closed).

    Nothing of the request was applied. The message is safe to show.
    """


# SQLite's primary result codes for a failure of the storage rather than of the request
# (a constraint, a bad statement): a request failing with one of them gets StorageError.
_STORAGE_FAILURES = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)


class _SnapshotPerBatch(trio.abc.Instrument):
    """Ends `read_now`'s snapshot before each of Trio's waits for I/O.

    A snapshot of its own cost each `read_now` two statements and two system calls (a
    WAL reader takes and gives back a lock in the shared-memory file): 12% of a garage
    `profile`'s server CPU. Shared by the reads of one batch, it still begins after
    anything that came from outside: a request, a commit heard by its caller (the
    writer hands over outcomes for the next batch), another process's write finished
    before the request that reads it arrived.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def before_io_wait(self, timeout: float) -> None:
        self.end()

    def end(self) -> None:
        """End the snapshot, if one is open."""
        if not self._connection.in_transaction:
            return
        try:
            self._connection.execute("COMMIT")
        except sqlite3.Error as error:
            # Never raised into Trio, which would drop the instrument: snapshots would
            # then never end, and reads would go stale.
            logger.error("a read snapshot did not end: %s; rolled back", error)
            self._connection.rollback()


class _TransactionLost(Exception):
    """SQLite rolled the whole transaction back while a request ran (`cause`)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _WriteRequest(Generic[T]):
    """A caller's write: its work, then its outcome, handed to `caller` (parked until
    then), or to nobody once the caller has been cancelled."""

    __slots__ = ("caller", "result", "work")

    def __init__(self, work: Work[T]) -> None:
        self.work = work
        self.result: outcome.Outcome[T] | None = None
        self.caller: trio.lowlevel.Task | None = trio.lowlevel.current_task()

    def abandon(self, raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self.caller = None  # cancelled while waiting: the write goes on, unheard
        return trio.lowlevel.Abort.SUCCEEDED


class Database:
    """One SQLite file: a writer task that group-commits, and a pool of readers."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        readers: int = 4,
        max_batch: int = 1024,
        busy_timeout_ms: int = 5000,
        worker_threads: bool = True,
        slow_commit: float = SLOW_COMMIT,
    ) -> None:
        self.path = path.resolve()
        self._run_sync = offload.run_sync(worker_threads)
        self._max_batch = max_batch
        self._slow_commit = slow_commit
        self._slow_commits = 0  # in a row, on the loop's thread
        self._threaded_commits_until = -math.inf  # a Trio time
        self._busy_timeout_ms = busy_timeout_ms
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(path, busy_timeout_ms)
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute(f"PRAGMA synchronous = {_checked_synchronous(synchronous)}")
        self._writer.execute("PRAGMA foreign_keys = ON")
        schema.prepare(self._writer)
        # From now on the writer never waits for a lock on the loop's thread (see _begin).
        self._writer.execute("PRAGMA busy_timeout = 0")
        self._readers_pool: list[sqlite3.Connection] = []
        for _ in range(readers):
            reader = _connect(path, busy_timeout_ms, read_only=True)
            self._readers_pool.append(reader)
        self._idle_readers_in, self._idle_readers = trio.open_memory_channel[sqlite3.Connection](
            math.inf
        )
        for reader in self._readers_pool:
            self._idle_readers_in.send_nowait(reader)
        # Never waits for a lock: it runs on the loop's thread. A WAL reader takes no lock
        # but the shared lock on the file, which it takes at its first read and then keeps;
        # that first take fails at once while another connection of this process holds the
        # pending lock (one does for an instant as it closes). So it is taken here, waiting
        # if need be.
        self._reader_now = _connect(path, busy_timeout_ms, read_only=True)
        self._reader_now.execute("PRAGMA schema_version")
        self._reader_now.execute("PRAGMA busy_timeout = 0")
        self._snapshot_per_batch: _SnapshotPerBatch | None = None  # while the writer runs
        self._requests_in, self._requests = trio.open_memory_channel[_WriteRequest[Any]](
            max_batch * 4
        )

    async def write(self, work: Work[T]) -> T:
        """Run `work(connection)` in the next group-committed transaction; return after the commit.

        `work` runs on the writer's connection and must only use the connection it
        is given. It may run twice (when a request of its batch raised after changing
        rows), so it must change nothing but the database. If it raises, its changes
        are rolled back and the exception is raised here (StorageError when the
        storage failed under it: a full disk, an I/O error); other requests in the
        same transaction are unaffected, unless SQLite undid the whole transaction.
        `work` must not swallow such errors. Raises StorageError when the
        transaction could not be committed. Cancelling the caller does not withdraw
        a request already queued.
        """
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled caller queues nothing
        request = _WriteRequest(work)
        try:
            # Queued without `send`'s pass through the scheduler when there is room (one
            # pass less per write): waiting for the commit is the caller's schedule point.
            try:
                self._requests_in.send_nowait(request)
            except trio.WouldBlock:
                await self._requests_in.send(request)
        except trio.ClosedResourceError:
            raise StorageError("storage is shut down") from None
        # Parked until the writer hands over the outcome: one wake-up, no Event to make.
        answer: T = await trio.lowlevel.wait_task_rescheduled(request.abandon)
        return answer

    async def read(self, work: Work[T]) -> T:
        """Run `work(connection)` on a read-only connection, in one snapshot, in a worker thread."""
        reader = await self._idle_readers.receive()
        try:
            return await self._run_sync(_in_snapshot, reader, work)
        finally:
            self._idle_readers_in.send_nowait(reader)

    def read_now(self, work: Work[T]) -> T:
        """Run `work(connection)` on a read-only connection, in one snapshot, at once on the
        loop's thread: only for what an index bounds, like the statements of a write.

        While the writer task runs, the snapshot is the one this batch of Trio's task
        steps began (see `_SnapshotPerBatch`); otherwise it is this call's own."""
        if self._snapshot_per_batch is None:
            return _in_snapshot(self._reader_now, work)
        if not self._reader_now.in_transaction:
            self._reader_now.execute("BEGIN")
        return work(self._reader_now)

    async def run_writer(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The writer task: group-commit queued requests until `close_writes`, then drain."""
        self._snapshot_per_batch = _SnapshotPerBatch(self._reader_now)
        trio.lowlevel.add_instrument(self._snapshot_per_batch)
        try:
            task_status.started()
            await self._write_batches()
        finally:
            trio.lowlevel.remove_instrument(self._snapshot_per_batch)
            self._snapshot_per_batch.end()
            self._snapshot_per_batch = None

    async def _write_batches(self) -> None:
        async with self._requests:
            while True:
                try:
                    first = await self._requests.receive()
                except trio.EndOfChannel:
                    return
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        batch.append(self._requests.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                # Shielded: a batch always finishes and its callers always hear
                # how it ended, even during shutdown.
                with trio.CancelScope(shield=True):
                    await self._transaction(batch)
                for request in batch:
                    if request.caller is not None:
                        assert request.result is not None
                        trio.lowlevel.reschedule(request.caller, request.result)

    async def _transaction(self, batch: list[_WriteRequest[Any]]) -> None:
        connection = self._writer
        if self._snapshot_per_batch is not None:
            # A reader of this process never holds the WAL back from the checkpoint that
            # a COMMIT may run, nor from starting over once it is all checkpointed.
            self._snapshot_per_batch.end()
        try:
            await self._begin()
            if not self._run_requests(batch, savepoints=False):
                connection.execute("ROLLBACK")
                await self._begin()
                self._run_requests(batch, savepoints=True)
            await self._commit()
        except (sqlite3.Error, _TransactionLost) as error:
            # The transaction itself failed (disk full, I/O error): nothing of it
            # stands, so every request in it fails, including those that "succeeded".
            cause = error.cause if isinstance(error, _TransactionLost) else error
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            logger.error("write transaction of %d requests failed: %s", len(batch), cause)
            failure = StorageError(f"storage unavailable: {cause}")
            for request in batch:
                request.result = outcome.Error(failure)

    def _run_requests(self, batch: list[_WriteRequest[Any]], *, savepoints: bool) -> bool:
        """Run each request of `batch` in the open transaction, keeping what it answers.

        A request that raises must leave nothing behind. Without savepoints that holds
        when it changed no row (a failed statement undoes itself); when it did, this
        returns False at once and the caller runs the whole batch again, each request
        in its own savepoint. Savepoints for every request cost 4 µs each (two more
        statements, and pages copied to the statement journal), and nearly every
        request that fails fails before it changes anything.
        """
        connection = self._writer
        for request in batch:
            if savepoints:
                connection.execute("SAVEPOINT request")
            changes = connection.total_changes
            try:
                request.result = outcome.Value(request.work(connection))
            except Exception as error:
                if not connection.in_transaction:
                    # SQLite undid the whole transaction, the savepoints of the requests
                    # before this one included (it does on SQLITE_FULL and I/O errors
                    # when undoing the statement alone is not possible).
                    raise _TransactionLost(error) from error
                if savepoints:
                    connection.execute("ROLLBACK TO request")
                elif connection.total_changes != changes:
                    return False
                request.result = outcome.Error(_storage_error(error))
            if savepoints:
                connection.execute("RELEASE request")
        return True

    async def _commit(self) -> None:
        """COMMIT on the loop's thread, or in a worker thread for a while after slow ones.

        A worker thread made a quick COMMIT slow: the thread waits for the GIL to start
        (up to the 5 ms switch interval while the loop runs Python), and the writer hears
        that it is done only after the loop's current round of tasks. In the durable
        workload a COMMIT took 1.1 ms in its thread and 12.8 ms from the writer's point
        of view (medians), and group commit waited out all of it.
        """
        if trio.current_time() < self._threaded_commits_until:
            await self._run_sync(self._writer.execute, "COMMIT")
            return
        started = time.perf_counter()
        self._writer.execute("COMMIT")
        took = time.perf_counter() - started
        self._slow_commits = self._slow_commits + 1 if took > self._slow_commit else 0
        if self._slow_commits == SLOW_COMMITS_IN_A_ROW:
            logger.warning(
                "%d COMMITs in a row took over %.0f ms (the last %.1f ms):"
                " commits run in a worker thread for %.0f s",
                SLOW_COMMITS_IN_A_ROW,
                self._slow_commit * 1000,
                took * 1000,
                THREADED_COMMITS,
            )
            self._slow_commits = 0
            self._threaded_commits_until = trio.current_time() + THREADED_COMMITS

    async def _begin(self) -> None:
        """Take the write lock: at once if it is free (the usual case), else in a thread."""
        try:
            self._writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            await self._run_sync(_begin_patiently, self._writer, self._busy_timeout_ms)

    def close_writes(self) -> None:
        """Refuse new writes; the writer task commits what is queued and returns."""
        self._requests_in.close()

    def close(self) -> None:
        """Close every connection. Call after the writer task has returned."""
        for reader in self._readers_pool:
            reader.close()
        self._reader_now.close()
        self._writer.close()


def _connect(path: Path, busy_timeout_ms: int, *, read_only: bool = False) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode={'ro' if read_only else 'rwc'}"
    connection = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, cached_statements=256
    )
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if read_only:
        connection.execute("PRAGMA query_only = ON")
    return connection


def _storage_error(error: Exception) -> Exception:
    """What a request that raised `error` answers: StorageError when the storage failed
    (SQLite undid only the failing statement, and the request is rolled back alone)."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAILURES:
        logger.error("a write failed: %s", error)
        failure = StorageError(f"storage unavailable: {error}")
        failure.__cause__ = error
        return failure
    return error


def _checked_synchronous(value: str) -> str:
    if value not in {"EXTRA", "FULL", "NORMAL"}:
        raise ValueError(f"unsupported synchronous mode {value!r}")
    return value


def _in_snapshot(connection: sqlite3.Connection, work: Work[T]) -> T:
    connection.execute("BEGIN")
    try:
        return work(connection)
    finally:
        connection.execute("COMMIT")


def _begin_patiently(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another process's write lock."""
    connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")
