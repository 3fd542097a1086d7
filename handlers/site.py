"""What every app is installed into: the shared parts the composition root builds.

An app's `install(site, ...)` registers its REST routes on `site.http`, its
WebSocket endpoints through `site.endpoint` (served on both ports), its
Socket.IO events on `site.sio`, and returns the background tasks it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from quart_trio import QuartTrio

from handlers.accounts import Accounts
from realtime.codec import Codec
from realtime.commands import Commands
from realtime.endpoint import Endpoint, ErrorTexts, Limits
from realtime.hub import Hub
from realtime.router import Router
from realtime.socketio import SocketIOService
from storage import Database

S = TypeVar("S")


@dataclass(frozen=True)
class Site:
    http: QuartTrio
    router: Router
    hub: Hub
    db: Database
    accounts: Accounts
    limits: Limits
    sio: SocketIOService

    def endpoint(
        self,
        path: str,
        *,
        codec: Codec,
        texts: ErrorTexts,
        commands: Commands[S],
        services: S,
        logger: logging.Logger,
        **hooks: Any,
    ) -> None:
        """Serve `commands` on the WebSocket `path`; `hooks` are Endpoint's (guard, admit, ...)."""
        self.router.add(
            Endpoint(
                path,
                codec=codec,
                texts=texts,
                commands=commands,
                services=services,
                db=self.db,
                hub=self.hub,
                limits=self.limits,
                logger=logger,
                **hooks,
            )
        )
