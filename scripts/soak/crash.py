"""The long crash-consistency run: purchases in three apps while the server is `kill -9`ed.

    python -m scripts.soak [--restarts 25] [--purchases 1000] [--seed N] [--buyers 8,4,4]

Run from the repository root (`make soak`). It is the run `tests/test_crash_consistency.py`
makes in `make test`, only longer and with more buyers: one implementation,
`tests/crash.py`, whose docstring says what is checked after every restart. Passes (exit
status 0) when at least `--restarts` kills and `--purchases` acknowledged purchases went by
with none lost, every ledger reconciled, `PRAGMA integrity_check` ok and every restart
serving within 5 s. Prints the seed first and the figures at the end; a failure is an
assertion naming what was wrong.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from functools import partial
from pathlib import Path

import trio

from tests.crash import crash_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=25, help="kill -9 restarts, at least")
    parser.add_argument("--purchases", type=int, default=1000, help="acknowledged, at least")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's kill times")
    parser.add_argument(
        "--buyers", default="8,4,4", help="buyers in the clicker, orders and garage apps"
    )
    parser.add_argument(
        "--longest-life", type=float, default=1.5, help="most seconds of shopping per life"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    clicker, orders, garage = (int(count) for count in args.buyers.split(","))
    print(f"crash run seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hearth-soak-") as directory:
        run = partial(
            crash_run,
            Path(directory),
            restarts=args.restarts,
            purchases=args.purchases,
            seed=seed,
            buyers=(clicker, orders, garage),
            longest_life=args.longest_life,
        )
        report = trio.run(run)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
