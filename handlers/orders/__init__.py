"""Food orders (seed 003): REST for customers and staff, the `/?token=` WebSocket, POS sync.

`install` wires the app into the server: its REST routes, its WebSocket
endpoint on `/` (served on both ports), and the POS sync worker (unless
`orders.pos_mode` is `off`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from handlers.orders import menu, routes, socket
from handlers.orders.events import Events
from handlers.orders.pricing import BonusRules
from handlers.orders.service import Orders
from handlers.orders.sync import PosSync
from handlers.site import Site
from realtime.typed import TEXTS, TypedCodec
from settings import OrdersSettings

logger = logging.getLogger("hearth.orders")


class MenuMissing(Exception):
    """The orders catalogue has not been seeded into this database."""


async def install(site: Site, *, settings: OrdersSettings) -> list[Callable[[], Awaitable[None]]]:
    """Register the orders app's routes and endpoint; return its background tasks."""
    catalogue = await site.db.read(menu.load)
    if not catalogue.cities or not catalogue.items:
        raise MenuMissing("the orders catalogue is not loaded: run `python -m scripts.seed`")
    events = Events(site.hub)
    syncing = settings.pos_mode != "off"
    sync = PosSync(site.db, events, settings)
    orders = Orders(
        db=site.db,
        menu=catalogue,
        rules=BonusRules(
            settings.bonus_spend_percent, settings.bonus_earn_percent, settings.bonus_earn_from
        ),
        events=events,
        sync_enabled=syncing,
        wake_sync=sync.wake,
    )
    tokens = site.accounts.tokens
    site.http.register_blueprint(routes.blueprint(orders, site.accounts, tokens, settings))
    site.endpoint(
        "/",
        codec=TypedCodec(),
        texts=TEXTS,
        commands=socket.commands,
        services=orders,
        logger=logger,
        admit=partial(socket.admit, tokens),
        on_open=partial(socket.greet, tokens, site.hub, orders),
    )
    return [sync.run] if syncing else []
