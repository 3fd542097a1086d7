"""Click & Cook (seed 002): REST login, the `/ws` envelope endpoint and passive income.

`install` wires the app into the server: its REST routes, its WebSocket
endpoint (served on both ports), and the background tasks it needs (the
passive ticker, the idle-player sweep and the request log's fold).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from handlers.accounts import Lifetimes
from handlers.clicker import routes, store
from handlers.clicker.commands import commands
from handlers.clicker.game import Game
from handlers.clicker.players import Players
from handlers.site import Site
from realtime.envelope import TEXTS, EnvelopeCodec
from realtime.schedule import run_every
from settings import ClickerSettings
from storage import request_log

logger = logging.getLogger("hearth.clicker")


class CatalogueMissing(Exception):
    """The clicker catalogue has not been seeded into this database."""


async def install(
    site: Site, *, settings: ClickerSettings, idempotency_window: int
) -> list[Callable[[], Awaitable[None]]]:
    """Register the clicker's routes and endpoint; return its background tasks."""
    catalogue = await site.db.read(store.load_catalogue)
    if not catalogue.upgrades or len(catalogue.xp_to_reach) != 100:
        raise CatalogueMissing("the clicker catalogue is not loaded: run `python -m scripts.seed`")
    game = Game(
        db=site.db,
        hub=site.hub,
        tokens=site.accounts.tokens,
        catalogue=catalogue,
        players=Players(idle_eviction=settings.idle_eviction),
        idempotency_window=idempotency_window,
    )
    lifetimes = Lifetimes(access=settings.access_token_ttl, refresh=settings.refresh_token_ttl)
    site.http.register_blueprint(routes.blueprint(site.accounts, lifetimes, site.hub))
    site.endpoint(
        "/ws",
        codec=EnvelopeCodec(),
        texts=TEXTS,
        commands=commands,
        services=game,
        logger=logger,
        guard=game.guard,
        reply_room=game.reply_room,
        on_close=game.on_close,
    )
    return [
        partial(run_every, settings.tick_interval, game.tick),
        partial(run_every, settings.sweep_interval, game.maintain),
        partial(run_every, request_log.FOLD_EVERY, game.fold_answers),
    ]
