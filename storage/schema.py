"""Brings a database file to the schema this code expects.

`PRAGMA user_version` holds the number of the last migration a database has.
A new, empty database is created from schema.sql in one step; an older one gets
each later file of storage/migrations/ in order, each in its own transaction
with its version bump, so a crash mid-migration leaves the previous version.

Invariant: schema.sql equals the result of applying every migration to an
empty database (tests/storage/test_schema.py holds them equal), so the two
paths reach the same schema.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaError(Exception):
    """The database cannot be brought to this code's schema."""


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    path: Path


def migrations() -> list[Migration]:
    """Every migration file, in version order; versions run 1, 2, 3... without gaps."""
    found = sorted(
        Migration(int(match.group(1)), path)
        for path in MIGRATIONS_DIR.iterdir()
        if (match := _MIGRATION_NAME.match(path.name))
    )
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise SchemaError(f"migration {expected:04d} is missing before {migration.path.name}")
    return found


def latest_version() -> int:
    return len(migrations())


def prepare(connection: sqlite3.Connection) -> None:
    """Create or migrate the database behind `connection` (in autocommit mode) to the latest."""
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    steps = migrations()
    latest = len(steps)
    if version > latest:
        raise SchemaError(f"database is at version {version}, newer than this code ({latest})")
    if version == latest:
        return
    if version == 0 and not _has_tables(connection):
        _apply(connection, SCHEMA_PATH.read_text(encoding="utf-8"), latest)
        return
    if version == 0:
        raise SchemaError("database has tables but no schema version: not a Hearth database")
    for step in steps[version:]:
        _apply(connection, step.path.read_text(encoding="utf-8"), step.version)


def _has_tables(connection: sqlite3.Connection) -> bool:
    row = connection.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").fetchone()
    return bool(row[0])


def _apply(connection: sqlite3.Connection, script: str, version: int) -> None:
    try:
        connection.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version:d};\nCOMMIT;"
        )
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise SchemaError(f"migration to version {version} failed: {error}") from error
