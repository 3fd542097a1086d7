"""The seeding command loads the clicker catalogue, and running it again changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from scripts.seed import seed
from storage import open_database


def _catalogue(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        upgrades = connection.execute("SELECT * FROM clicker_upgrades ORDER BY id").fetchall()
        levels = connection.execute("SELECT * FROM clicker_levels ORDER BY rank").fetchall()
    return upgrades, levels


async def test_seeding_twice_gives_the_same_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "seeded.db"
    async with open_database(path) as db:
        await seed(db)
    first = _catalogue(path)
    assert (len(first[0]), len(first[1])) == (78, 100)
    assert first[0][0] == (1, "Сэндвич", "sandwich", "dish", 0, 1.0, 0, "mPc", 1.0)
    assert first[1][4:6] == [(5, 400), (6, 362)]  # the original's dip, kept
    with sqlite3.connect(path) as connection:  # an edited row is put back
        connection.execute("UPDATE clicker_upgrades SET price = 1 WHERE id = 78")
    async with open_database(path) as db:
        await seed(db)
    assert _catalogue(path) == first
