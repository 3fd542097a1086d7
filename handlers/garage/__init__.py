"""The car game's economy (seed 000) over Socket.IO: its events join the shared
`/socket.io/` service, with the `_error` event for their failures."""

from __future__ import annotations

import random

from handlers.garage import commands
from handlers.site import Site
from settings import GarageSettings


def install(site: Site, *, settings: GarageSettings) -> None:
    rng = random.Random(settings.drop_seed) if settings.drop_seed else random.SystemRandom()
    garage = commands.Garage(
        site.db,
        max_grant=settings.max_currency_grant,
        min_version=settings.min_client_version,
        rng=rng,
    )
    site.sio.register(commands.commands, garage, commands.error_events)
