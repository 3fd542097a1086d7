"""Opening a `Database` with its writer task running, and closing it after.

Kept apart from `storage.database` because it is an async generator, which mypyc
cannot compile, and the database is compiled (scripts/compile.py).

Invariant: while the block runs, the writer task runs; after it, every queued write has
been committed and every connection is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from storage.database import Database


@asynccontextmanager
async def open_database(path: Path, **options: Any) -> AsyncIterator[Database]:
    """Open `path` (creating or migrating it) with its writer task running.

    On exit, new writes are refused, queued ones are committed, and every
    connection is closed.
    """
    database = Database(path, **options)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(database.run_writer)
            try:
                yield database
            finally:
                database.close_writes()
    finally:
        database.close()
