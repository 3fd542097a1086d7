"""Workspace channels (seed 001): REST for accounts, workspaces and channels; Socket.IO events.

`install` registers the REST routes and adds the `auth` event to the shared
Socket.IO service (`/socket.io/`), with this app's error events.
"""

from __future__ import annotations

from handlers.accounts import Lifetimes
from handlers.channels import routes, socket
from handlers.site import Site
from settings import ChannelsSettings

ERROR_EVENTS = socket.error_events


def install(site: Site, *, settings: ChannelsSettings) -> None:
    lifetimes = Lifetimes(access=settings.access_token_ttl, refresh=settings.refresh_token_ttl)
    accounts = site.accounts
    site.http.register_blueprint(
        routes.blueprint(site.db, accounts, accounts.tokens, site.hub, lifetimes)
    )
    site.sio.register(
        socket.commands, socket.Channels(accounts.tokens, site.hub), socket.error_events
    )
