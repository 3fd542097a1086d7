"""Party events (seed 004): REST for people, events and media; the event WebSocket.

`install` wires the routes (uploads may be up to `parties.max_media_bytes`),
the `/api/v1/websockets/event` endpoint (served on both ports) and the media
directory under the data directory.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from quart_trio import QuartTrio

from handlers.accounts import Accounts
from handlers.parties import routes, socket
from handlers.parties.media import MediaStore
from handlers.parties.service import Parties
from handlers.web import allow_larger_bodies
from realtime.endpoint import Endpoint, Limits
from realtime.hub import Hub
from realtime.router import Router
from realtime.slash import TEXTS, SlashCodec
from settings import PartiesSettings
from storage import Database

logger = logging.getLogger("hearth.parties")
MULTIPART_ALLOWANCE = 64 * 1024  # form fields and part headers around an upload


def install(
    *,
    http: QuartTrio,
    router: Router,
    hub: Hub,
    db: Database,
    accounts: Accounts,
    limits: Limits,
    settings: PartiesSettings,
    data_directory: Path,
    min_password_length: int,
) -> None:
    media = MediaStore(
        data_directory / "media", allowed=settings.media_types, max_bytes=settings.max_media_bytes
    )
    parties = Parties(db=db, hub=hub, accounts=accounts, media=media, settings=settings)
    http.register_blueprint(routes.blueprint(parties, min_password_length))
    allow_larger_bodies(http, routes.MEDIA_PATHS, settings.max_media_bytes + MULTIPART_ALLOWANCE)
    router.add(
        Endpoint(
            "/api/v1/websockets/event",
            codec=SlashCodec(),
            texts=TEXTS,
            commands=socket.commands,
            services=parties,
            db=db,
            hub=hub,
            limits=limits,
            logger=logger,
            admit=partial(socket.admit, parties),
            on_open=partial(socket.greet, parties),
            on_close=parties.left,
        )
    )
