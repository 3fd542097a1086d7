"""Party events (seed 004): REST for people, events and media; the event WebSocket.

`install` wires the routes (uploads may be up to `parties.max_media_bytes`),
the `/api/v1/websockets/event` endpoint (served on both ports) and the media
directory under the data directory.
"""

from __future__ import annotations

import logging
from functools import partial

from handlers.parties import routes, socket
from handlers.parties.media import MediaStore
from handlers.parties.service import Parties
from handlers.site import Site
from handlers.web import allow_larger_bodies
from realtime.slash import TEXTS, SlashCodec
from settings import PartiesSettings

logger = logging.getLogger("hearth.parties")
MULTIPART_ALLOWANCE = 64 * 1024  # form fields and part headers around an upload


def install(site: Site, *, settings: PartiesSettings, min_password_length: int) -> None:
    media = MediaStore(
        site.db.path.parent / "media",
        allowed=settings.media_types,
        max_bytes=settings.max_media_bytes,
        keep_free=settings.media_keep_free_bytes,
    )
    parties = Parties(
        db=site.db, hub=site.hub, accounts=site.accounts, media=media, settings=settings
    )
    site.http.register_blueprint(routes.blueprint(parties, min_password_length))
    allow_larger_bodies(
        site.http, routes.MEDIA_PATHS, settings.max_media_bytes + MULTIPART_ALLOWANCE
    )
    site.endpoint(
        "/api/v1/websockets/event",
        codec=SlashCodec(),
        texts=TEXTS,
        commands=socket.commands,
        services=parties,
        logger=logger,
        admit=partial(socket.admit, parties),
        on_open=partial(socket.greet, parties),
        on_close=parties.left,
    )
