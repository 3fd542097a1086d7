"""The listener's transport on a real socket whose peer stops reading."""

from __future__ import annotations

import socket

import trio
import trio.testing
import wsproto
import wsproto.events

from realtime.listener import WsprotoTransport

PAYLOAD = 1_000_000  # far more than the socket buffers hold
HEADER = 10  # a text frame's header with a 64-bit length, unmasked (server to client)


def _accepted_pair() -> tuple[wsproto.WSConnection, wsproto.WSConnection]:
    """A server and a client protocol past the opening handshake."""
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server.receive_data(client.send(wsproto.events.Request(host="test", target="/ws")))
    assert isinstance(next(server.events()), wsproto.events.Request)
    client.receive_data(server.send(wsproto.events.AcceptConnection()))
    assert isinstance(next(client.events()), wsproto.events.AcceptConnection)
    return server, client


async def test_a_send_cut_short_is_followed_by_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A slow consumer: the pump's send is stuck on a full socket and is cancelled (the
    # client is dropped). Part of the frame is out; a close frame written after it would
    # land inside that frame's payload, so the client gets the part and then the end.
    ours, theirs = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server, _ = _accepted_pair()
    transport = WsprotoTransport(trio.SocketStream(ours), server, max_message_bytes=PAYLOAD)
    peer = trio.SocketStream(theirs)
    with trio.move_on_after(1):  # the clock jumps once the send is stuck
        await transport.send("a" * PAYLOAD)
    received = bytearray(await peer.receive_some(65536))  # room for a close frame now
    with trio.move_on_after(1):  # as Connection.run does: the close frame's brief chance
        await transport.close(1008, "slow consumer")
    await transport.abort()
    while chunk := await peer.receive_some(65536):
        received += chunk
    assert HEADER < len(received) < HEADER + PAYLOAD
    assert received[HEADER:] == b"a" * (len(received) - HEADER)
