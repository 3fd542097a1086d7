"""Crash consistency, the short run: purchases in three apps while the server is
`kill -9`ed at random (the long run is `make soak`; both are `tests/crash.py`)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.crash import MAX_RESTART_SECONDS, crash_run

RESTARTS = 5
PURCHASES = 200


@pytest.mark.timeout(90)
async def test_kill_9_at_random_loses_no_acknowledged_purchase(tmp_path: Path) -> None:
    """Pass: over at least 5 `kill -9` restarts and 200 acknowledged purchases (clicker
    upgrades, orders with bonuses, garage cars and upgrades), every acknowledged purchase
    is in the database after each restart (0 lost), a request in flight at a kill is applied
    wholly or not at all (a clicker retry with its request id gets the first answer or
    applies it once), every bonus balance equals its ledger and money reconciles with what
    is owned, `PRAGMA integrity_check` is ok, the server serves within 5 s of each start,
    logs no error, and finally stops on SIGTERM with status 0.

    HEARTH_CRASH_SEED=<n> repeats a run's kill times (the seed is printed)."""
    seed = int(os.environ.get("HEARTH_CRASH_SEED") or random.randrange(2**32))
    print(f"crash run seed {seed}")
    report = await crash_run(tmp_path, restarts=RESTARTS, purchases=PURCHASES, seed=seed)
    print(report)
    assert report.restarts >= RESTARTS and report.purchases >= PURCHASES, str(report)
    assert report.lost == 0, str(report)
    assert len(report.restart_seconds) == report.restarts, str(report)
    assert max(report.restart_seconds) < MAX_RESTART_SECONDS, str(report)
    assert report.in_flight > 0, str(report)  # the kills did land mid-request
