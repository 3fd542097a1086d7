"""Compile Hearth's hot modules to C extensions with mypyc, or remove them.

    python -m scripts.compile            # build the extensions next to their sources
    python -m scripts.compile --clean    # remove them: every module runs as Python
    python -m scripts.compile --sources  # print the compiled modules' sources (for make)

The same source serves both ways: an extension (`listener.cpython-311-*.so`) shadows its
`.py` when both are present, and the `.py` runs when it is not. `make` rebuilds the
extensions whenever one of these sources changes; without a C compiler the build fails
with a warning and Hearth runs as Python, slower but otherwise the same.

Invariant: a compiled module defines no msgspec schema. mypyc replaces a class's
annotations with plain runtime types, so a `msgspec.Struct` defined in a compiled module
would silently lose its `Annotated` limits (`max_length`, ranges) and its class options
(`kw_only`, `frozen`). tests/scripts/test_compile.py holds every module here to that.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The workloads' hot paths (docs/performance.md, steps 55 and 56): the WebSocket and
# Socket.IO transports, dispatch, fan-out, the writer and the request log, the clicker's
# game, turns and players, and the stores. Modules that define msgspec schemas
# (envelope, the apps' commands, the clicker's rules) stay Python, and so do two that
# mypyc cannot compile: realtime/commands.py (a generic frozen dataclass) and
# storage/running.py (an async generator).
MODULES = (
    "realtime/batches.py",
    "realtime/codec.py",
    "realtime/connection.py",
    "realtime/endpoint.py",
    "realtime/engineio.py",
    "realtime/frames.py",
    "realtime/hub.py",
    "realtime/last.py",
    "realtime/listener.py",
    "realtime/ratelimit.py",
    "realtime/socketio.py",
    "realtime/transport.py",
    "storage/database.py",
    "storage/request_log.py",
    "handlers/clicker/game.py",
    "handlers/clicker/players.py",
    "handlers/clicker/store.py",
    "handlers/clicker/turn.py",
    "handlers/garage/store.py",
)
BUILD = ROOT / "build"


def extensions() -> list[Path]:
    """Every extension a build left in the tree, the shared runtime library included."""
    return [
        path
        for pattern in ("*__mypyc.*.so", "realtime/*.so", "storage/*.so", "handlers/**/*.so")
        for path in ROOT.glob(pattern)
    ]


def compiled() -> list[str]:
    """The modules of MODULES that have an extension built."""
    return [module for module in MODULES if extension_of(module) is not None]


def extension_of(module: str) -> Path | None:
    """The extension built from `module` (a path in MODULES), if there is one."""
    source = ROOT / module
    return next(source.parent.glob(f"{source.stem}.*.so"), None)


def clean() -> None:
    for path in extensions():
        path.unlink()
    shutil.rmtree(BUILD, ignore_errors=True)


def build() -> None:
    """Build the extensions in place; on failure leave none, so all of Hearth is Python."""
    clean()  # a module dropped from MODULES must not keep shadowing its source
    mypyc = Path(sys.executable).with_name("mypyc")
    result = subprocess.run([str(mypyc), *MODULES], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        clean()
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        print(
            "scripts.compile: mypyc failed (is a C compiler installed?); Hearth runs as Python",
            file=sys.stderr,
        )
    else:
        shutil.rmtree(BUILD, ignore_errors=True)
        print(f"scripts.compile: {len(MODULES)} modules compiled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--clean", action="store_true", help="remove the extensions")
    action.add_argument("--sources", action="store_true", help="print the compiled sources")
    arguments = parser.parse_args()
    if arguments.sources:
        print(" ".join(MODULES))
    elif arguments.clean:
        clean()
    else:
        build()


if __name__ == "__main__":
    main()
