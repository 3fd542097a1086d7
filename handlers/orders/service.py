"""The orders app's operations: price, place and move orders, and tell everyone concerned.

Invariants: an order, its bonus debit and credit, its ledger rows and its
sync job are stored in one transaction, priced from the balance inside that
transaction, so concurrent orders can never overspend bonuses; events go out
only after the commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from handlers.orders import store
from handlers.orders.events import Events
from handlers.orders.menu import Menu
from handlers.orders.pricing import BonusRules, OrderRequest, Quote, quote
from storage import Database


class Orders:
    def __init__(
        self,
        *,
        db: Database,
        menu: Menu,
        rules: BonusRules,
        events: Events,
        sync_enabled: bool,
        wake_sync: Callable[[], None],
    ) -> None:
        self.db = db
        self.menu = menu
        self.rules = rules
        self.events = events
        self._sync_enabled = sync_enabled
        self._wake_sync = wake_sync

    def person(self, user_id: int) -> store.Person | None:
        return self.db.read_now(lambda connection: store.person(connection, user_id))

    def calculate(self, user_id: int, request: OrderRequest) -> Quote:
        balance = self.db.read_now(lambda connection: store.balance(connection, user_id))
        return quote(self.menu, request, balance, self.rules)

    async def place(self, user_id: int, request: OrderRequest) -> store.Created:
        """Store the order (raises OrderProblem), then announce it and queue its sync."""
        sync_at = time.time() if self._sync_enabled else None

        def create(connection: sqlite3.Connection) -> store.Created:
            priced = quote(self.menu, request, store.balance(connection, user_id), self.rules)
            return store.create_order(connection, user_id, request, priced, sync_at=sync_at)

        created = await self.db.write(create)
        self.events.order_created(created)
        if sync_at is not None:
            self._wake_sync()
        return created

    async def change_status(
        self, person: store.Person, order_id: int, status: str
    ) -> store.StatusChange | None:
        """Move an order to `status` (None: no such order); raises PermissionError, OrderProblem."""
        cities = None if person.sees_everything else person.cities

        def change(connection: sqlite3.Connection) -> store.StatusChange | None:
            return store.change_status(connection, order_id, status, cities)

        changed = await self.db.write(change)
        if changed is not None and changed.old_status != status:
            self.events.status_changed(changed)
        return changed

    async def find(self, where: store.Filter, page: store.Page) -> list[dict[str, Any]]:
        """Orders matching `where`, newest first.

        A customer's own (`where.user_id`) are a range of one index, a page at most: read
        at once, on the loop's thread. A staff query may filter on columns no index
        covers and scan the table: read in a worker thread.
        """

        def find(connection: sqlite3.Connection) -> list[dict[str, Any]]:
            return store.orders(connection, where, page)

        if where.user_id is not None:
            return self.db.read_now(find)
        return await self.db.read(find)

    def bonus_history(self, user_id: int, page: store.Page) -> list[dict[str, Any]]:
        """The customer's ledger, newest first: a page of one index's range."""
        return self.db.read_now(
            lambda connection: store.history(connection, user_id, page.limit, page.offset)
        )
