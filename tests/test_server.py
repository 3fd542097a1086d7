"""The whole server: restart, `kill -9` mid-burst, SIGTERM, settings."""

from __future__ import annotations

import signal
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

import server
import settings
from tests.clients import close_code, connect, prepare_player, register, stored_player, user_id_of
from tests.conftest import make_settings, seed_database
from tests.process import ROOT, server_process, write_config


async def test_a_restart_keeps_what_was_acknowledged(tmp_path: Path) -> None:
    config = make_settings(tmp_path)
    await seed_database(config)
    async with trio.open_nursery() as nursery:
        running: server.Running = await nursery.start(server.main, config)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
            tokens = await register(http, "keeper@example.com")
        async with connect(running.ws_port, tokens["access_token"]) as player:
            await player.request("upgrade_buy", id=1)
            first = await player.request("cook", request_id="c-1")
            await player.request("cook")
            sold = await player.request("sell")
        running.stop.set()
    assert sold == {"dishes": 1, "money": 1, "xp": 9}
    async with trio.open_nursery() as nursery:
        running = await nursery.start(server.main, config)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
            login = await http.post(
                "/auth", json={"email": "keeper@example.com", "password": "correct horse"}
            )
        async with connect(running.ws_port, login.json()["tokens"]["access_token"]) as player:
            assert await player.request("level_check") == {
                "current_rank": 0,
                "current_xp": 9,
                "needed_xp": 120,
            }
            assert await player.request("passive") == {
                "money": 1,
                "dishes": 1,
                "level_rank": 0,
                "level_xp": 9,
                "prestige_accumulated": 0,
            }
            # The request log survived too: a late retry gets its first answer, nothing more.
            assert await player.request("cook", request_id="c-1") == first
            assert await player.request("upgrade_list") == await player.request("upgrade_list")
            # A new answer goes on the ring after the four stored before the restart.
            assert await player.request("cook") == {"dishes": 2, "xp": 10}
        running.stop.set()
    assert stored_player(config.storage.path, user_id_of(tokens))["dishes"] == 2
    with sqlite3.connect(config.storage.path) as connection:
        ring = connection.execute(  # the newest answers may wait for their fold
            "SELECT seq FROM request_log UNION ALL SELECT seq FROM request_journal ORDER BY seq"
        ).fetchall()
    assert ring == [(0,), (1,), (2,), (3,), (4,)]


async def test_kill_9_mid_burst_loses_no_acknowledged_cook(tmp_path: Path) -> None:
    """Every cook a client was told about is on disk after `kill -9` and a restart."""
    config_file = write_config(
        tmp_path, "[realtime]\nrate_per_second = 1e6\nrate_burst = 1000000\n"
    )
    database = str(tmp_path / "hearth.db")
    await seed_database(make_settings(tmp_path))
    acknowledged: dict[int, int] = {}
    async with server_process(config_file) as child:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{child.http_port}") as http:
            users = [await register(http) for _ in range(8)]
        for tokens in users:
            prepare_player(database, user_id_of(tokens), {1: 1})

        async def cook_forever(tokens: dict[str, str]) -> None:
            user_id = user_id_of(tokens)
            try:
                async with connect(child.ws_port, tokens["access_token"]) as player:
                    while True:
                        acknowledged[user_id] = (await player.request("cook"))["dishes"]
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                return

        async with trio.open_nursery() as burst:
            for tokens in users:
                burst.start_soon(cook_forever, tokens)
            await trio.sleep(1.5)
            child.signal(signal.SIGKILL)
            await child.wait()
    assert sum(acknowledged.values()) > 100, acknowledged  # a real burst was running
    connection = sqlite3.connect(database)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()
    for user_id, dishes in acknowledged.items():
        stored = stored_player(database, user_id)["dishes"]
        # At most the one unanswered cook in flight may have landed as well.
        assert dishes <= stored <= dishes + 1, (user_id, dishes, stored)
    # And the server serves again from that file.
    async with server_process(config_file) as child:
        tokens = users[0]
        async with connect(child.ws_port, tokens["access_token"]) as player:
            dishes = (await player.request("passive"))["dishes"]
            assert dishes == stored_player(database, user_id_of(tokens))["dishes"]


async def test_a_retry_after_kill_9_gets_its_first_answer(tmp_path: Path) -> None:
    """An answer stored just before `kill -9` (most likely still in the request log's
    journal, folded into the ring only every 0.1 s) answers its retry after the restart,
    and the cook is not applied twice."""
    config_file = write_config(tmp_path)
    database = str(tmp_path / "hearth.db")
    await seed_database(make_settings(tmp_path))
    async with server_process(config_file) as child:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{child.http_port}") as http:
            tokens = await register(http)
        prepare_player(database, user_id_of(tokens), {1: 1})
        async with connect(child.ws_port, tokens["access_token"]) as player:
            first = await player.request("cook", request_id="k-1")
            child.signal(signal.SIGKILL)
            await child.wait()
    assert first == {"dishes": 1, "xp": 1}
    async with (
        server_process(config_file) as child,
        connect(child.ws_port, tokens["access_token"]) as player,
    ):
        assert await player.request("cook", request_id="k-1") == first
        assert await player.request("cook", request_id="k-2") == {"dishes": 2, "xp": 2}
    assert stored_player(database, user_id_of(tokens))["dishes"] == 2


async def test_sigterm_closes_websockets_with_1001_and_exits_0(tmp_path: Path) -> None:
    config_file = write_config(tmp_path)
    await seed_database(make_settings(tmp_path))
    async with server_process(config_file) as child:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{child.http_port}") as http:
            tokens = await register(http)
        async with (
            connect(child.ws_port, tokens["access_token"]) as on_listener,
            connect(child.http_port, tokens["access_token"]) as on_http,
        ):
            await on_listener.receive()  # the other connection's session answer
            child.signal(signal.SIGTERM)
            for player in (on_listener, on_http):
                with pytest.raises(ConnectionClosed) as closed, trio.fail_after(10):
                    await player.socket.get_message()
                assert close_code(closed.value) == 1001
            assert await child.wait() == 0
    assert any("stopped" in line for line in child.log), child.log


def test_environment_overrides_every_key_and_the_seed_names() -> None:
    environ = {
        "HEARTH_SERVER_WS_PORT": "9101",
        "HEARTH_STORAGE_PATH": "/tmp/elsewhere.db",
        "HEARTH_REALTIME_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "HEARTH_REALTIME_RATE_PER_SECOND": "7.5",
        "SERVER_PORT": "9100",
        "ACCESS_TOKEN_SECRET": "a" * 32,
        "REFRESH_TOKEN_SECRET": "r" * 32,
        "HEARTH_SECRETS_PASSWORD_KEY": "p" * 32,
        "JWT_ISSUER": "vpiska",
        "JWT_AUDIENCE": "vpiska-app",
        "JWT_LIFETIME_DAYS": "7",
        "LOGGING_TRACE_REQUESTS": "true",
    }
    loaded = settings.load(environ=environ)
    assert (loaded.accounts.token_issuer, loaded.accounts.token_audience) == (
        "vpiska",
        "vpiska-app",
    )
    assert loaded.parties.token_lifetime_days == 7 and loaded.server.trace_requests is True
    jwt_key = settings.load(environ={**environ, "ACCESS_TOKEN_SECRET": "", "JWT_KEY": "k" * 32})
    assert jwt_key.secrets.access_token == "k" * 32
    assert (loaded.server.http_port, loaded.server.ws_port) == (9100, 9101)
    assert loaded.storage.path == "/tmp/elsewhere.db"
    assert loaded.realtime.allowed_origins == ["https://a.example", "https://b.example"]
    assert loaded.realtime.rate_per_second == 7.5
    assert loaded.secrets.access_token == "a" * 32
    assert "a" * 32 not in repr(loaded)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "secrets.access_token must be at least 32 bytes"),
        (
            {
                "ACCESS_TOKEN_SECRET": "short",
                "REFRESH_TOKEN_SECRET": "r" * 32,
                "HEARTH_SECRETS_PASSWORD_KEY": "p" * 32,
            },
            "secrets.access_token must be at least 32 bytes",
        ),
        (
            {
                "ACCESS_TOKEN_SECRET": "s" * 32,
                "REFRESH_TOKEN_SECRET": "s" * 32,
                "HEARTH_SECRETS_PASSWORD_KEY": "p" * 32,
            },
            "must differ",
        ),
        ({"HEARTH_SERVER_HTTP_PORT": "eighty"}, "HEARTH_SERVER_HTTP_PORT: expected a number"),
        ({"HEARTH_STORAGE_SYNCHRONOUS": "SOMETIMES"}, "invalid setting"),
        ({"HEARTH_REALTIME_PING_INTERVAL": "0"}, r"> 0.0 - at `\$.realtime.ping_interval`"),
    ],
)
def test_bad_settings_are_refused(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(settings.SettingsError, match=problem):
        settings.load(environ=environ)


def test_unknown_keys_in_a_file_are_refused(tmp_path: Path) -> None:
    overlay = tmp_path / "typo.toml"
    overlay.write_text("[server]\nhttp_prot = 1\n", encoding="utf-8")
    with pytest.raises(settings.SettingsError) as refused:
        settings.load([overlay], environ={})
    assert str(refused.value) == f"{overlay}: unknown setting server.http_prot"


async def test_the_server_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    result = await trio.run_process(
        [sys.executable, "server.py"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HEARTH_STORAGE_PATH": str(tmp_path / "x.db")},
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 2
    assert b"secrets.access_token must be at least 32 bytes" in result.stderr


@pytest.mark.settings(server={"trace_requests": True})
async def test_request_tracing_logs_one_line_per_request(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="hearth.http.trace")
    await http.get("/health?secret=not-logged")
    await http.post("/reg", json={})
    lines = [record.getMessage() for record in caplog.records if record.name == "hearth.http.trace"]
    assert [line.rsplit(" ", 1)[0] for line in lines] == ["GET /health 200", "POST /reg 400"]
    assert all("secret" not in line for line in lines)
