"""Crash consistency, the long run: purchases in three apps while the server is `kill -9`ed.

    python -m scripts.soak crash [--restarts 25] [--purchases 1000] [--seed N] [--buyers 8,4,4]

It is the run `tests/test_crash_consistency.py` makes in `make test`, only longer and with
more buyers: one implementation, `tests/crash.py`, whose docstring says what is checked
after every restart. Passes (exit status 0) when at least `--restarts` kills and
`--purchases` acknowledged purchases went by with none lost, every ledger reconciled,
`PRAGMA integrity_check` ok and every restart serving within 5 s. Prints the seed first
and the figures at the end; a failure is an assertion naming what was wrong.
"""

from __future__ import annotations

import argparse
import random
from functools import partial
from pathlib import Path

import trio

from tests.crash import crash_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--restarts", type=int, default=25, help="kill -9 restarts, at least")
    parser.add_argument("--purchases", type=int, default=1000, help="acknowledged, at least")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's kill times")
    parser.add_argument(
        "--buyers", default="8,4,4", help="buyers in the clicker, orders and garage apps"
    )
    parser.add_argument(
        "--longest-life", type=float, default=1.5, help="most seconds of shopping per life"
    )


def main(args: argparse.Namespace, directory: Path) -> bool:
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    clicker, orders, garage = (int(count) for count in args.buyers.split(","))
    print(f"crash run seed {seed}", flush=True)
    run = partial(
        crash_run,
        directory,
        restarts=args.restarts,
        purchases=args.purchases,
        seed=seed,
        buyers=(clicker, orders, garage),
        longest_life=args.longest_life,
    )
    report = trio.run(run)
    print(report)
    return True  # crash_run asserts on any failure
