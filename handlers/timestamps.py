"""Timestamps as the seed documents write them, and as the apps store them.

ISO 8601 in UTC with milliseconds and a `Z`: 2024-01-15T10:30:00.000Z. Text of
this one width sorts as the times do, so stored timestamps compare as text.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """The current time, as 2024-01-15T10:30:00.000Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
