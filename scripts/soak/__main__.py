"""`make soak`: the long reliability runs of issue 8, each with its own pass criterion.

    python -m scripts.soak                  # all three, with their defaults (about 40 minutes)
    python -m scripts.soak crash [options]  # kill -9 restarts (scripts/soak/crash.py)
    python -m scripts.soak slow [options]   # slow consumers (scripts/soak/slow.py)
    python -m scripts.soak mixed [options]  # 30 minutes of mixed load (scripts/soak/mixed.py)

Run from the repository root. Each run starts its own servers on 127.0.0.1 with a
temporary database, prints its figures and says PASS or FAIL; the exit status is
non-zero when any run failed. `python -m scripts.soak RUN --help` lists a run's options
(durations, so a short version can be run quickly).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from scripts.soak import crash, mixed, slow

RUNS = {"crash": crash, "slow": slow, "mixed": mixed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.soak", description=(__doc__ or "").split("\n\n")[0]
    )
    runs = parser.add_subparsers(dest="run", metavar="{" + ",".join(RUNS) + "}")
    for name, module in RUNS.items():
        doc = module.__doc__ or ""
        module.add_arguments(
            runs.add_parser(
                name,
                help=doc.split("\n")[0],
                description=doc,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
    args = parser.parse_args(argv)
    chosen = [args.run] if args.run else list(RUNS)
    passed: dict[str, bool] = {}
    for name in chosen:
        module = RUNS[name]
        run_args = args if args.run else runs.choices[name].parse_args([])
        print(f"== {name}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"hearth-soak-{name}-") as directory:
            try:
                passed[name] = module.main(run_args, Path(directory))
            except AssertionError as failure:
                print(f"{name}: FAIL: {failure!r}", flush=True)
                passed[name] = False
    print("soak:", ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in passed.items()))
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
