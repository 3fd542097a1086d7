"""Load the apps' catalogues into the database (idempotent: safe to run again).

    python -m scripts.seed [--config FILE]...

Creates the database from schema.sql if it does not exist yet. From
scripts/catalogues/: the clicker's 78 upgrades and 100-rank xp table (the
original's `create_updates` and `create_levels_xps`), and the orders menu
(cities, branches, items with per-city prices, modifiers).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import trio

import settings as settings_module
from handlers.clicker import store as clicker_store
from handlers.clicker.rules import Upgrade
from handlers.garage import store as garage_store
from handlers.orders import menu as orders_menu
from storage import Database, open_database

CATALOGUES = Path(__file__).resolve().parent / "catalogues"
logger = logging.getLogger("hearth.seed")


def clicker_catalogue() -> tuple[list[Upgrade], dict[int, int]]:
    with (CATALOGUES / "clicker_upgrades.csv").open(encoding="utf-8", newline="") as file:
        upgrades = [
            Upgrade(
                id=int(row["id"]),
                name=row["name"],
                icon_name=row["icon_name"],
                upgrade_type=row["upgrade_type"],
                price=int(row["price"]),
                price_factor=float(row["price_factor"]),
                access_level=int(row["access_level"]),
                boost_type=row["boost_type"],
                boost_value=float(row["boost_value"]),
            )
            for row in csv.DictReader(file)
        ]
    with (CATALOGUES / "clicker_levels.csv").open(encoding="utf-8", newline="") as file:
        levels = {int(row["rank"]): int(row["xp_to_reach"]) for row in csv.DictReader(file)}
    return upgrades, levels


def orders_catalogue() -> dict[str, Any]:
    catalogue: dict[str, Any] = json.loads((CATALOGUES / "orders.json").read_text("utf-8"))
    return catalogue


async def seed(db: Database) -> None:
    upgrades, levels = clicker_catalogue()
    await db.write(partial(clicker_store.replace_catalogue, upgrades=upgrades, xp_to_reach=levels))
    logger.info("clicker catalogue: %d upgrades, %d ranks", len(upgrades), len(levels))
    cars = json.loads((CATALOGUES / "garage.json").read_text("utf-8"))
    await db.write(partial(garage_store.replace_catalogue, catalogue=cars))
    logger.info("garage catalogue: %d cars, %d skins", len(cars["cars"]), len(cars["skins"]))
    menu = orders_catalogue()
    await db.write(partial(orders_menu.replace, catalogue=menu))
    logger.info(
        "orders catalogue: %d cities, %d branches, %d items",
        len(menu["cities"]),
        len(menu["branches"]),
        len(menu["items"]),
    )


async def _seed_file(path: Path) -> None:
    async with open_database(path) as db:
        await seed(db)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=Path, default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = settings_module.load(args.config, require_secrets=False)
    trio.run(_seed_file, Path(config.storage.path))


if __name__ == "__main__":
    main()
