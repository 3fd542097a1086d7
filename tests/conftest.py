"""Fixtures: a real Hearth on 127.0.0.1 with port 0, a real SQLite file in a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import server as server_module
import settings
from scripts.seed import seed
from storage import open_database
from tests.orders_clients import BOT_TOKEN

TEST_SECRETS = {
    "access_token": "test-access-secret-0123456789abcdef",
    "refresh_token": "test-refresh-secret-0123456789abcdef",
    "password_key": "test-password-key-0123456789abcdefgh",
}

MakeConfig = Callable[..., settings.Settings]


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> settings.Settings:
    """Test settings: ports 0, a database under `data_dir`, cheap bcrypt; `sections` override."""
    overrides: dict[str, dict[str, Any]] = {
        "server": {"http_port": 0, "ws_port": 0, "shutdown_timeout": 5.0},
        "storage": {"path": str(data_dir / "hearth.db")},
        "secrets": dict(TEST_SECRETS),
        "accounts": {"bcrypt_cost": 4},
        "orders": {"telegram_bot_token": BOT_TOKEN, "pos_mock_delay": 0.05},
    }
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return settings.load(overrides=overrides, environ={})


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    return lambda **sections: make_settings(tmp_path, **sections)


@pytest.fixture
def config(make_config: MakeConfig, request: pytest.FixtureRequest) -> settings.Settings:
    """Test settings; `@pytest.mark.settings(section={key: value})` changes some."""
    marker = request.node.get_closest_marker("settings")
    return make_config(**(marker.kwargs if marker else {}))


async def seed_database(config: settings.Settings) -> None:
    async with open_database(Path(config.storage.path)) as db:
        await seed(db)


@pytest.fixture
async def server(config: settings.Settings) -> AsyncIterator[server_module.Running]:
    await seed_database(config)
    async with trio.open_nursery() as nursery:
        running: server_module.Running = await nursery.start(server_module.main, config)
        yield running
        running.stop.set()


@pytest.fixture
async def http(server: server_module.Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as client:
        yield client


@pytest.fixture(params=["listener", "http"])
def ws_port(request: pytest.FixtureRequest, server: server_module.Running) -> int:
    """Every WebSocket test runs on both transports: the listener and the HTTP port."""
    return server.ws_port if request.param == "listener" else server.http_port
