"""Media files on disk, under the data directory: saved whole or not at all.

An upload is checked before it is kept: its declared content type must be
allowed, its first bytes must look like that type, and its size within the
limit. The bytes go to a temporary file that is renamed into place only when
everything passed, so a refused or interrupted upload leaves nothing behind.

The database lives on the same disk: an upload that would leave less than
`keep_free` bytes free is refused as if the disk were full (StorageError), so
one user's uploads cannot stop every app's writes.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

import trio

from storage import StorageError

# The first bytes each accepted type starts with (offset, bytes).
SIGNATURES: dict[str, list[tuple[int, bytes]]] = {
    "image/jpeg": [(0, b"\xff\xd8\xff")],
    "image/png": [(0, b"\x89PNG\r\n\x1a\n")],
    "image/gif": [(0, b"GIF87a"), (0, b"GIF89a")],
    "image/webp": [(8, b"WEBP")],
    "video/mp4": [(4, b"ftyp")],
    "video/quicktime": [(4, b"ftyp"), (4, b"moov"), (4, b"wide"), (4, b"mdat")],
    "video/webm": [(0, b"\x1a\x45\xdf\xa3")],
}


class Refused(Exception):
    """The upload is not accepted; the message says why."""


class MediaStore:
    def __init__(
        self, directory: Path, *, allowed: list[str], max_bytes: int, keep_free: int
    ) -> None:
        self.directory = directory
        self._allowed = frozenset(allowed)
        self._max_bytes = max_bytes
        self._keep_free = keep_free

    def path(self, media_id: str) -> Path:
        return self.directory / media_id

    async def save(self, content: bytes, content_type: str) -> str:
        """Keep `content` under a new id and return it; raises Refused, and StorageError
        when the disk is full or would keep less than `keep_free` free (nothing is left
        behind)."""
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in self._allowed:
            raise Refused(f"content type {content_type!r} is not accepted")
        if len(content) > self._max_bytes:
            raise Refused(f"larger than {self._max_bytes} bytes")
        if not any(
            content[at : at + len(magic)] == magic for at, magic in SIGNATURES.get(content_type, [])
        ):
            raise Refused(f"the content is not {content_type}")
        media_id = str(uuid.uuid4())
        try:
            await trio.to_thread.run_sync(self._write, media_id, content)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):  # the disk is full: a 503, no bug
                raise StorageError(f"storage unavailable: {error.strerror}") from error
            raise
        return media_id

    def _write(self, media_id: str, content: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        disk = os.statvfs(self.directory)
        if disk.f_bavail * disk.f_frsize - len(content) < self._keep_free:
            raise OSError(errno.ENOSPC, "the disk's last space is kept for the database")
        partial = self.directory / f".{media_id}.partial"
        try:
            with partial.open("wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            partial.rename(self.path(media_id))
        finally:
            partial.unlink(missing_ok=True)

    async def read(self, media_id: str) -> bytes | None:
        try:
            return await trio.Path(self.path(media_id)).read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, media_id: str) -> None:
        await trio.Path(self.path(media_id)).unlink(missing_ok=True)
