"""Workspace channels (seed 001): REST for accounts, workspaces and channels; Socket.IO events.

`install` registers the REST routes and adds the `auth` event to the shared
Socket.IO service (`/socket.io/`), with this app's error events.
"""

from __future__ import annotations

from quart_trio import QuartTrio

from handlers.accounts import Accounts, Lifetimes
from handlers.channels import routes, socket
from realtime.hub import Hub
from realtime.socketio import SocketIOService
from settings import ChannelsSettings
from storage import Database

ERROR_EVENTS = socket.error_events


def install(
    *,
    http: QuartTrio,
    sio: SocketIOService,
    hub: Hub,
    db: Database,
    accounts: Accounts,
    settings: ChannelsSettings,
) -> None:
    lifetimes = Lifetimes(access=settings.access_token_ttl, refresh=settings.refresh_token_ttl)
    http.register_blueprint(routes.blueprint(db, accounts, accounts.tokens, hub, lifetimes))
    sio.register(socket.commands, socket.Channels(accounts.tokens, hub), socket.error_events)
