"""POS sync over HTTP against a local fake POS, on the autojump clock; jobs survive restarts.

The servers run without worker threads (server.worker_threads = false): the
autojump clock would jump while a thread commits and fire unrelated timers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import trio
import trio.testing
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

import server
import settings
from tests.conftest import MakeConfig, seed_database
from tests.orders_clients import (
    OrdersSocket,
    customer,
    make_staff,
    order_body,
    orders_socket,
    staff_token,
)

PATIENCE = 200.0  # virtual seconds: longer than any backoff


@dataclass
class FakePos:
    """Fails the first `failures` requests with HTTP 500, then answers {"id": "POS-77"}."""

    failures: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> QuartTrio:
        app = QuartTrio("fake-pos")

        @app.post("/orders")
        async def take() -> Any:
            self.seen.append({"headers": dict(request.headers), "order": await request.get_json()})
            if len(self.seen) <= self.failures:
                return {"error": "busy"}, 500
            return {"id": "POS-77"}, 200

        return app


@asynccontextmanager
async def running_pos(pos: FakePos) -> AsyncIterator[FakePos]:
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, pos.app(), config))
        pos.url = f"{binds[0]}/orders"
        yield pos
        nursery.cancel_scope.cancel()


@dataclass
class Site:
    http: httpx.AsyncClient
    admin: OrdersSocket
    customer_token: str


@asynccontextmanager
async def hearth(config: settings.Settings) -> AsyncIterator[Site]:
    """A running Hearth with an HTTP client, a customer and an admin's socket."""
    async with trio.open_nursery() as nursery:
        running: server.Running = await nursery.start(server.main, config)
        base = f"http://127.0.0.1:{running.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            token, _ = await customer(http, 5000)
            admin_token = await staff_token(http, "admin@example.com")
            async with orders_socket(running.ws_port, admin_token, PATIENCE) as admin:
                yield Site(http, admin, token)
        running.stop.set()


async def _configured(make_config: MakeConfig, **orders: Any) -> settings.Settings:
    config = make_config(orders=orders, server={"worker_threads": False})
    await seed_database(config)
    return config


async def _place(site: Site) -> int:
    placed = await site.http.post(
        "/api/orders", json=order_body(), headers={"Authorization": f"Bearer {site.customer_token}"}
    )
    order_id: int = placed.json()["order"]["id"]
    return order_id


async def test_http_sync_retries_with_backoff_then_succeeds(
    autojump_clock: trio.testing.MockClock, make_config: MakeConfig
) -> None:
    async with running_pos(FakePos(failures=2)) as pos:
        config = await _configured(
            make_config, pos_mode="http", pos_url=pos.url, pos_api_key="secret-key"
        )
        make_staff(config.storage.path, "admin@example.com", "admin")
        async with hearth(config) as site:
            order_id = await _place(site)
            await site.admin.expect("new-order")
            start = trio.current_time()
            times, frames = [], []
            for _ in range(3):
                frames.append(await site.admin.receive())
                times.append(trio.current_time() - start)
            assert [f["type"] for f in frames] == ["sync-error", "sync-error", "sync-success"]
            assert frames[0]["data"]["error"] == "POS answered HTTP 500"
            assert {f["data"]["entityId"] for f in frames} == {order_id}
            # Attempt 1 at once; attempt 2 five seconds later; attempt 3 ten after that.
            assert times[0] < 1 and 5 <= times[1] < 6 and 15 <= times[2] < 16, times
            await site.admin.silent(30)
            stored = await site.http.get(
                f"/api/orders/{order_id}",
                headers={"Authorization": f"Bearer {site.customer_token}"},
            )
            assert stored.json()["order"]["pos_id"] == "POS-77"
    assert len(pos.seen) == 3
    headers = pos.seen[0]["headers"]
    assert headers["X-Api-Key"] == "secret-key"
    assert headers["Idempotency-Key"] == f"order-{order_id}"
    assert pos.seen[0]["order"]["id"] == order_id


async def test_a_job_is_given_up_after_the_last_attempt(
    autojump_clock: trio.testing.MockClock, make_config: MakeConfig
) -> None:
    async with running_pos(FakePos(failures=100)) as pos:
        config = await _configured(make_config, pos_mode="http", pos_url=pos.url)
        make_staff(config.storage.path, "admin@example.com", "admin")
        async with hearth(config) as site:
            await _place(site)
            await site.admin.expect("new-order")
            for _ in range(5):  # at 0, 5, 15, 35 and 75 seconds
                await site.admin.expect("sync-error")
            await site.admin.silent(500)
    assert len(pos.seen) == 5
    with sqlite3.connect(config.storage.path) as connection:
        assert connection.execute("SELECT state, attempts FROM sync_jobs").fetchall() == [
            ("failed", 5)
        ]


async def test_jobs_left_at_shutdown_resume_after_a_restart(
    autojump_clock: trio.testing.MockClock, make_config: MakeConfig
) -> None:
    slow = await _configured(make_config, pos_mock_delay=60.0)
    make_staff(slow.storage.path, "admin@example.com", "admin")
    async with hearth(slow) as site:
        order_id = await _place(site)
        await site.admin.expect("new-order")
        await trio.sleep(1)  # the mock POS is still working on it when the server stops
    quick = make_config(orders={"pos_mock_delay": 0.05}, server={"worker_threads": False})
    async with hearth(quick) as site:
        synced = await site.admin.expect("sync-success")
        assert synced["entityId"] == order_id
