"""Compare two revisions of Hearth on the same workloads, run in turns on this machine.

    python -m scripts.bench.ab BASE [OTHER] [--pairs 3] [--only round-trips] [...]

Each revision is checked out in a temporary git worktree that borrows this checkout's
virtualenv and Node packages (so a revision with other dependencies needs a checkout and
virtualenv of its own) and compiles its own hot modules (scripts/compile.py);
`python -m scripts.bench` then runs in each, in turns
(A B, then B A, ...), so that the host's slow and quick minutes fall on both. Every
option after the revisions goes to `scripts.bench` as it is. Prints each row's figure
and CPU per operation for both revisions, as the median of the pairs.

Invariant: the worktrees are removed when the comparison ends, however it ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from scripts.bench.harness import HERE, PYTHON, ROOT, install_node_packages

Results = list[dict[str, Any]]


@contextmanager
def worktree(revision: str, parent: Path) -> Iterator[Path]:
    """`revision` checked out under `parent`, with this checkout's Node packages and the
    revision's own compiled modules (scripts/compile.py, where the revision has it)."""
    path = parent / revision.replace("/", "_")
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
        cwd=ROOT,
        check=True,
    )
    try:
        (path / "scripts" / "bench" / "node_modules").symlink_to(HERE / "node_modules")
        if (path / "scripts" / "compile.py").exists():
            subprocess.run([PYTHON, "-m", "scripts.compile"], cwd=path, check=True)
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def bench(tree: Path, arguments: list[str]) -> Results:
    """One `scripts.bench` run in `tree` (with this virtualenv's Python); its rows."""
    # `-m` puts `tree` first on sys.path, ahead of this checkout's editable install, and
    # the harness starts the server from `tree` too: every module comes from the revision.
    subprocess.run([PYTHON, "-m", "scripts.bench", *arguments], cwd=tree, check=True)
    rows: Results = json.loads((tree / "bench-results.json").read_text(encoding="utf-8"))
    return rows


def median(runs: list[Results], index: int, field: str) -> float | None:
    """The median of row `index`'s `field` over `runs`; None where no run has it."""
    values = [run[index][field] for run in runs if run[index].get(field) is not None]
    return statistics.median(values) if values else None


def report(base: str, other: str, runs: dict[str, list[Results]]) -> str:
    """Each of Hearth's figures (once, however many peers it was set against) and its
    CPU per operation, for each revision."""

    def shown(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:,.1f}{unit}"

    lines = [f"medians of {len(runs[base])} runs each: {base} -> {other}"]
    seen: set[str] = set()
    for index, row in enumerate(runs[base][0]):
        label = f"{row['workload']}: {row['hearth']}"
        if label in seen:  # the same figure again, beside another peer
            continue
        seen.add(label)
        figures = " -> ".join(shown(median(runs[r], index, "measured")) for r in (base, other))
        cpu = " -> ".join(shown(median(runs[r], index, "cpu_us"), " µs") for r in (base, other))
        lines.append(f"{label}\n    {figures} {row['unit']}; CPU/op {cpu}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Every other option goes to scripts.bench (--only, --duration, ...).",
    )
    parser.add_argument("base", help="the revision compared against (e.g. main~1)")
    parser.add_argument("other", nargs="?", default="HEAD", help="the revision compared")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each, in turns")
    args, bench_arguments = parser.parse_known_args(argv)
    if args.base == args.other:
        parser.error("name two different revisions")
    install_node_packages()
    runs: dict[str, list[Results]] = {args.base: [], args.other: []}
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as trees:
        paths = {
            revision: trees.enter_context(worktree(revision, Path(scratch))) for revision in runs
        }
        for pair in range(args.pairs):
            order = [args.base, args.other] if pair % 2 == 0 else [args.other, args.base]
            for revision in order:
                print(f"pair {pair + 1}/{args.pairs}: {revision}", flush=True)
                runs[revision].append(bench(paths[revision], bench_arguments))
    shapes = {tuple(row["workload"] for row in run) for results in runs.values() for run in results}
    if len(shapes) != 1:
        raise SystemExit("the two revisions' benchmarks give different rows: compare by hand")
    print(report(args.base, args.other, runs))


if __name__ == "__main__":
    main()
