"""WebSocket conformance: the Autobahn|Testsuite fuzzing client against both transports.

`python -m scripts.conformance` (`make conformance`):

1. sets up Python 2.7's virtualenv with `wstest` in .conformance/py27 (pinned by
   requirements-py27.txt beside this file; redone when that file changes),
2. starts Hearth on free ports with a fresh database, `realtime.debug_echo` on and the
   message limit raised to 1 MiB, the largest message of the cases run,
3. runs `wstest -m fuzzingclient` on /debug/echo of the listener port and of the HTTP
   port: cases 1-7, 9 and 10, without 9's messages over 1 MiB (9.1.4-6, 9.2.4-6, 9.3,
   9.4); not 12 and 13 (permessage-deflate: the HTTP port negotiates it, the listener not),
4. prints per transport how many cases ran and each outcome, and exits 1 if any FAILED.

The reports (HTML per case, index.json) are in .conformance/reports/.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".conformance"  # git-ignored
VENV = WORK / "py27"
REPORTS = WORK / "reports"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-py27.txt"
VIRTUALENV = "virtualenv==20.15.1"  # the last release that runs on Python 2.7

MAX_MESSAGE_BYTES = 1 << 20
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
EXCLUDED = ["9.1.4", "9.1.5", "9.1.6", "9.2.4", "9.2.5", "9.2.6", "9.3.*", "9.4.*"]
AGENTS = {"listener": "ws_port", "http": "http_port"}
PASSING = {"OK", "INFORMATIONAL"}  # outcomes not listed case by case
OUTCOMES = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
_begun: set[Path] = set()  # logs written in this run
_LISTENING = re.compile(r"listening http=\S+:(\d+) ws=\S+:(\d+)")


def find_python27() -> str | None:
    """python2.7 on PATH, else pyenv's; None if there is no working one."""
    candidates = [shutil.which("python2.7")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "2.7":
            return candidate
    return None


def ensure_wstest() -> Path:
    """`wstest` in .conformance/py27, installed from the pins unless already there."""
    wstest = VENV / "bin" / "wstest"
    stamp = VENV / ".requirements-sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if wstest.exists() and stamp.exists() and stamp.read_text() == digest:
        return wstest
    python27 = find_python27()
    if python27 is None:
        sys.exit(
            "conformance: Python 2.7 not found (looked for python2.7 on PATH and in "
            "~/.pyenv/versions/2.7*/bin). The Autobahn|Testsuite runs only on Python 2.7: "
            "install it (e.g. `pyenv install 2.7.18`) and run again."
        )
    print(f"conformance: setting up {VENV.relative_to(ROOT)} with {python27}", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    tool = WORK / "virtualenv"  # virtualenv itself, kept out of the interpreter's site
    pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    log = WORK / "install.log"
    _logged([python27, *pip, "--upgrade", "--target", str(tool), VIRTUALENV], log)
    _logged([python27, "-m", "virtualenv", str(VENV)], log, PYTHONPATH=str(tool))
    _logged([str(VENV / "bin" / "python"), *pip, "-r", str(REQUIREMENTS)], log)
    _logged([str(wstest), "-a"], log)
    stamp.write_text(digest)
    return wstest


def _logged(command: list[str], log: Path, **env: str) -> None:
    """Run `command` in .conformance/ with its output appended to `log` (begun by the first
    command of a run); on failure show the log's end and stop."""
    with log.open("ab" if log in _begun else "wb") as sink:
        _begun.add(log)
        done = subprocess.run(
            command, cwd=WORK, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    if done.returncode != 0:
        print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
        sys.exit(f"conformance: {' '.join(command)} failed ({done.returncode}); see {log}")


def write_overlay(directory: Path) -> Path:
    """A config overlay: free ports, a fresh database here, fresh secrets, the echo on."""
    path = directory / "conformance.toml"
    keys = ("access_token", "refresh_token", "password_key")
    secret_lines = "\n".join(f'{key} = "{secrets.token_hex(32)}"' for key in keys)
    path.write_text(
        '[server]\nhost = "127.0.0.1"\nhttp_port = 0\nws_port = 0\n\n'
        f'[storage]\npath = "{directory / "hearth.db"}"\n\n[secrets]\n{secret_lines}\n\n'
        f"[realtime]\ndebug_echo = true\nmax_message_bytes = {MAX_MESSAGE_BYTES}\n",
        encoding="utf-8",
    )
    return path


def start_server(overlay: Path, log: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """Seed the database and start `server.py`; return it and its ports once it listens."""
    python = sys.executable
    subprocess.run(
        [python, "-m", "scripts.seed", "--config", str(overlay)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [python, "server.py", "--config", str(overlay)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if match := _LISTENING.search(log.read_text(errors="replace")):
            http_port, ws_port = map(int, match.groups())
            return process, {"http_port": http_port, "ws_port": ws_port}
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    sys.exit(f"conformance: Hearth did not start; its log:\n{log.read_text(errors='replace')}")


def write_spec(directory: Path, ports: dict[str, int]) -> Path:
    spec = {
        "outdir": str(REPORTS),
        "servers": [
            {"agent": agent, "url": f"ws://127.0.0.1:{ports[port]}/debug/echo"}
            for agent, port in AGENTS.items()
        ],
        "cases": CASES,
        "exclude-cases": EXCLUDED,
        "exclude-agent-cases": {},
    }
    path = directory / "fuzzingclient.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def summarise(index: dict[str, dict[str, dict[str, object]]]) -> int:
    """Print each transport's outcomes; return how many cases FAILED in all."""
    failed = 0
    for agent in AGENTS:
        results = index.get(agent, {})
        counts = Counter(str(result["behavior"]) for result in results.values())
        closes = Counter(str(result["behaviorClose"]) for result in results.values())
        line = ", ".join(f"{outcome} {counts.pop(outcome, 0)}" for outcome in OUTCOMES)
        other = ", ".join(f"{outcome} {n}" for outcome, n in sorted(counts.items()))
        print(f"{agent:>8}: {len(results)} cases: {line}" + (f", {other}" if other else ""))
        bad_closes = {k: v for k, v in closes.items() if k not in PASSING}
        if bad_closes:
            print(f"{'':>8}  closing handshake: {dict(sorted(bad_closes.items()))}")
        for case, result in sorted(results.items(), key=lambda item: _case_key(item[0])):
            if {result["behavior"], result["behaviorClose"]} - PASSING:
                print(
                    f"{'':>10}{case}: {result['behavior']} (close {result['behaviorClose']}, "
                    f"code {result.get('remoteCloseCode')})"
                )
        failed += sum(
            1
            for result in results.values()
            if "FAILED" in (result["behavior"], result["behaviorClose"])
        )
    return failed


def _case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split("."))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--cases", nargs="+", help="case patterns to run instead of the default set (e.g. 6.*)"
    )
    args = parser.parse_args()
    if args.cases:
        CASES[:] = args.cases
    WORK.mkdir(exist_ok=True)
    wstest = ensure_wstest()
    shutil.rmtree(REPORTS, ignore_errors=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hearth-conformance-") as temp:
        directory = Path(temp)
        server, ports = start_server(write_overlay(directory), WORK / "server.log")
        try:
            spec = write_spec(directory, ports)
            print(f"conformance: wstest against {ports} (cases {' '.join(CASES)})", flush=True)
            _logged([str(wstest), "-m", "fuzzingclient", "-s", str(spec)], WORK / "wstest.log")
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    index = json.loads((REPORTS / "index.json").read_text(encoding="utf-8"))
    failed = summarise(index)
    print(
        f"conformance: {time.monotonic() - started:.0f} s; reports in "
        f"{REPORTS.relative_to(ROOT)}/index.html"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
