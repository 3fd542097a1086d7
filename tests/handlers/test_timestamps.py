"""The apps' timestamps: the seed documents' form, in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from handlers.timestamps import now_iso


def test_now_is_utc_with_milliseconds_and_a_z() -> None:
    before = datetime.now(UTC)
    stamp = now_iso()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", stamp)
    parsed = datetime.fromisoformat(stamp)
    assert before - timedelta(milliseconds=1) <= parsed <= after
