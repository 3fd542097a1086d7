"""Hearth's SQLite layer: the group-committing writer, readers and schema migrations."""

from storage.database import Database, StorageError
from storage.running import open_database

__all__ = ["Database", "StorageError", "open_database"]
