"""POS sync: a durable job queue worked by one background task.

Each new order gets a job row in the order's own transaction. The worker
takes the due jobs and sends each order to the point-of-sale system (`mock`,
or `http`: a POST with the API key header). Success stores the POS id on the
order and emits `sync-success`; each failure emits `sync-error` and schedules
the next attempt after `backoff * 2**(attempt - 1)` seconds, until `attempts`
are spent. Jobs are rows, so whatever is pending at shutdown is due again
after a restart. The worker's clock is Trio's plus a fixed offset to wall
time, so schedules follow a test's mock clock and survive restarts alike.

Invariants: a job is attempted by at most one task at a time; the worker
never dies of a failed attempt (the job stays pending and is retried).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, Protocol

import httpx
import trio

from handlers.orders import store
from handlers.orders.events import Events
from settings import OrdersSettings
from storage import Database, StorageError

logger = logging.getLogger("hearth.orders")

DUE_BATCH = 100  # jobs read per look at the queue
CONCURRENCY = 20  # POS requests in flight at once
IDLE_LOOK = 60.0  # seconds between looks at the queue when nothing is scheduled


class PosError(Exception):
    """The POS did not take the order; the message is shown in `sync-error`."""


class Pos(Protocol):
    async def send(self, order: dict[str, Any]) -> str:
        """Hand `order` to the POS; return its id there. Raises PosError."""
        ...


class MockPos:
    """Succeeds after a short delay with id `MOCK-<ms>`."""

    def __init__(self, delay: float) -> None:
        self._delay = delay

    async def send(self, order: dict[str, Any]) -> str:
        await trio.sleep(self._delay)
        return f"MOCK-{int(time.time() * 1000)}"


class HttpPos:
    """POSTs the order as JSON; a 2xx answer's `id` (or `pos_id`) is the POS id."""

    def __init__(self, client: httpx.AsyncClient, settings: OrdersSettings) -> None:
        self._client = client
        self._url = settings.pos_url
        self._headers = {settings.pos_api_key_header: settings.pos_api_key}

    async def send(self, order: dict[str, Any]) -> str:
        headers = {**self._headers, "Idempotency-Key": f"order-{order['id']}"}
        try:
            response = await self._client.post(self._url, json=order, headers=headers)
        except httpx.TimeoutException:
            raise PosError("Connection timeout") from None
        except httpx.HTTPError as error:
            raise PosError(f"Connection failed: {error}") from None
        if not response.is_success:
            raise PosError(f"POS answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        pos_id = body.get("id", body.get("pos_id")) if isinstance(body, dict) else None
        return str(pos_id) if pos_id is not None else ""


class PosSync:
    def __init__(self, db: Database, events: Events, settings: OrdersSettings) -> None:
        self._db = db
        self._events = events
        self._settings = settings
        self._wake = trio.Event()
        self._in_flight: set[int] = set()
        self._limiter = trio.CapacityLimiter(CONCURRENCY)
        self._offset = 0.0

    def wake(self) -> None:
        """Look at the queue now (a job was added or finished)."""
        self._wake.set()

    def now(self) -> float:
        return trio.current_time() + self._offset

    async def run(self) -> None:
        self._offset = time.time() - trio.current_time()
        settings = self._settings
        async with httpx.AsyncClient(timeout=settings.pos_timeout) as client:
            pos: Pos = (
                HttpPos(client, settings)
                if settings.pos_mode == "http"
                else MockPos(settings.pos_mock_delay)
            )
            async with trio.open_nursery() as nursery:
                while True:
                    self._wake = trio.Event()
                    due, later = await self._db.read(
                        partial(store.due_jobs, now=self.now(), limit=DUE_BATCH)
                    )
                    for job in due:
                        if job.id not in self._in_flight:
                            self._in_flight.add(job.id)
                            nursery.start_soon(self._attempt, pos, job)
                    wait = IDLE_LOOK if later is None else min(IDLE_LOOK, later - self.now())
                    with trio.move_on_after(max(wait, 0.0)):
                        await self._wake.wait()

    async def _attempt(self, pos: Pos, job: store.Job) -> None:
        try:
            await self._try(pos, job)
        except StorageError as error:  # e.g. a full disk: the job stays pending
            logger.warning("POS sync of order %d not recorded: %s", job.order_id, error)
        except Exception:  # a bug: the job stays pending
            logger.exception("POS sync of order %d failed to run", job.order_id)
        finally:
            self._in_flight.discard(job.id)
            self.wake()

    async def _try(self, pos: Pos, job: store.Job) -> None:
        found = await self._db.read(partial(store.orders, where=store.Filter(id=job.order_id)))
        try:
            async with self._limiter:
                pos_id = await pos.send(found[0])
        except PosError as failure:
            attempt = job.attempts + 1
            settings = self._settings
            retry_at = (
                self.now() + settings.pos_backoff * 2 ** (attempt - 1)
                if attempt < settings.pos_attempts
                else None
            )
            await self._db.write(
                partial(store.job_failed, job_id=job.id, error=str(failure), retry_at=retry_at)
            )
            logger.info(
                "POS sync of order %d: attempt %d failed: %s", job.order_id, attempt, failure
            )
            self._events.synced(job, str(failure))
            return
        await self._db.write(partial(store.job_done, job=job, pos_id=pos_id))
        self._events.synced(job, None)
