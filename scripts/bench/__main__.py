"""Benchmark Hearth against its peers in one run; print the table, write bench-results.json.

    python -m scripts.bench [--only round-trips,fan-out,idle,durable,ticks]
        [--connections 100] [--warmup 2] [--duration 10] [--hold 15] [--tick-seconds 60]

Each workload (scripts/bench/workloads.py) starts a fresh, seeded Hearth with a
temporary database, then the peers it is compared with, and drives them all with the
same Node load generators (installed here from package-lock.json). Everything listens
on 127.0.0.1. Absolute numbers depend on the machine; compare the ratios. A full run
takes about six minutes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from scripts.bench.harness import ROOT, install_node_packages
from scripts.bench.workloads import WORKLOADS, Options, Row
from scripts.compile import MODULES, compiled

RESULTS = ROOT / "bench-results.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma-separated")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=15.0)
    parser.add_argument("--tick-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    chosen = args.only.split(",")
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    install_node_packages()
    # Hearth run as Python (no C compiler) is slower: the output says which it was.
    print(f"compiled hot modules: {len(compiled())} of {len(MODULES)} (scripts/compile.py)")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        options = Options(
            Path(scratch),
            args.connections,
            args.warmup,
            args.duration,
            args.hold,
            args.tick_seconds,
        )
        for name in chosen:
            rows.extend(WORKLOADS[name](options))
            print(f"{name}: done", flush=True)
    print(table(rows))
    RESULTS.write_text(json.dumps([row.as_json() for row in rows], indent=2) + "\n")
    print(f"written to {RESULTS.name}")


def table(rows: list[Row]) -> str:
    header = (
        "workload",
        "Hearth does",
        "Hearth",
        "peer",
        "peer's",
        "ratio",
        "target",
        "pass",
        "CPU/op: Hearth, peer",
    )
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.workload,
                row.hearth,
                f"{row.measured:,.1f} {row.unit}",
                row.peer or "",
                "" if row.peer_measured is None else f"{row.peer_measured:,.1f}",
                "" if row.ratio is None else f"{row.ratio:.2f}",
                row.target,
                {True: "yes", False: "NO", None: ""}[row.passed],
                _cpu(row),
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cpu(row: Row) -> str:
    """The servers' CPU per round trip (or commit): Hearth's, then the peer's."""
    if row.cpu_us is None:
        return ""
    peer = "" if row.peer_cpu_us is None else f", {row.peer_cpu_us:,.0f} µs"
    return f"{row.cpu_us:,.0f} µs{peer}"


if __name__ == "__main__":
    main()
