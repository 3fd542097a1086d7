"""Endpoint delivery: a command's event that is also its reply goes out in one write."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio
import trio.testing

from realtime.commands import Commands, Context, Emitted
from realtime.endpoint import Endpoint, ErrorTexts, Limits
from realtime.hub import Hub
from realtime.socketio import SocketIOCodec
from realtime.transport import Handshake
from storage import open_database
from tests.realtime.test_connection import FakeTransport

commands: Commands[None] = Commands()


@commands.command("hello", dict)
async def hello(ctx: Context[None, Any]) -> Emitted:
    return Emitted("greeting", {"to": ctx.data["name"]})


async def test_an_emitted_event_and_its_ack_go_out_in_one_write(tmp_path: Path) -> None:
    transport = FakeTransport(reading=True)
    transport.idle = True
    with trio.fail_after(5):
        # The command reads nothing, but the compiled endpoint takes only a real database.
        async with open_database(tmp_path / "endpoint.db") as db:
            endpoint = Endpoint(
                "/socket.io/",
                codec=SocketIOCodec(lambda action, transaction, message: [("_error", message)], {}),
                texts=ErrorTexts(None, "rate limited", "unavailable", "internal"),
                commands=commands,
                services=None,
                db=db,
                hub=Hub(max_connections_per_user=4),
                limits=Limits(outbox_size=8, rate_per_second=100, rate_burst=100),
                logger=logging.getLogger("test"),
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(endpoint.serve, transport, Handshake("/socket.io/", {}, {}, "t"))
                # Socket.IO packets (Engine.IO's "4" is the transport's): an EVENT asking for
                # ack 7, then one asking for none.
                await transport.deliver('27["hello",{"name":"Ann"}]')
                await transport.deliver('2["hello",{"name":"Bob"}]')
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
    assert transport.direct == [
        '2["greeting",{"to":"Ann"}]',
        '37[{"to":"Ann"}]',
        '2["greeting",{"to":"Bob"}]',
    ]
    assert transport.writes == [2, 1]
