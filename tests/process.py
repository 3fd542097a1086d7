"""Hearth as a child process (`python server.py`), for signals and `kill -9`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from tests.conftest import TEST_SECRETS

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening http=\S+:(\d+) ws=\S+:(\d+)")


def write_config(directory: Path, extra: str = "", database: Path | None = None) -> Path:
    """A config overlay for a child server: ports 0, its own database (`directory`/hearth.db
    unless given), cheap bcrypt; `extra` is more TOML (sections not named above)."""
    path = directory / "test-config.toml"
    database = database or directory / "hearth.db"
    secrets = "\n".join(f'{key} = "{value}"' for key, value in TEST_SECRETS.items())
    path.write_text(
        f'[server]\nhttp_port = 0\nws_port = 0\n\n[storage]\npath = "{database}"\n\n'
        f"[secrets]\n{secrets}\n\n[accounts]\nbcrypt_cost = 4\n\n{extra}",
        encoding="utf-8",
    )
    return path


@dataclass
class ServerProcess:
    process: trio.Process
    http_port: int = 0
    ws_port: int = 0
    log: list[str] = field(default_factory=list)

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    async def wait(self) -> int:
        with trio.fail_after(15):
            return await self.process.wait()


@asynccontextmanager
async def server_process(config: Path, wrapper: Sequence[str] = ()) -> AsyncIterator[ServerProcess]:
    """Start `python server.py --config config` (as the arguments of the command `wrapper`,
    if given); yield once it listens; kill it on exit."""
    async with trio.open_nursery() as nursery:
        process = await trio.lowlevel.open_process(
            [*wrapper, sys.executable, str(ROOT / "server.py"), "--config", str(config)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        running = ServerProcess(process)
        listening = trio.Event()

        async def read_log() -> None:
            assert process.stderr is not None
            buffer = b""
            async for chunk in process.stderr:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")
                    running.log.append(text)
                    if match := _LISTENING.search(text):
                        running.http_port, running.ws_port = map(int, match.groups())
                        listening.set()

        nursery.start_soon(read_log)
        try:
            with trio.fail_after(20):
                await listening.wait()
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
