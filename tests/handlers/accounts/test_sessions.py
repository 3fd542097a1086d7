"""Sessions on live sockets: a logout closes every socket of its user at once and ends every
token issued before it; a socket authenticated once, by the token in its URL, closes when
that token expires."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

import server as server_module
import settings
from handlers.accounts import TokenCodec
from server import Running
from tests.clients import connect, prepare_player, register, user_id_of
from tests.conftest import TEST_SECRETS, make_settings, seed_database
from tests.orders_clients import orders_socket
from tests.sio_clients import emit_event, open_namespace, receive_event
from tests.tokens import ACCEPTED, REFUSED, answers_to, everywhere_user


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _open_event(http: httpx.AsyncClient, token: str) -> str:
    """A parties event owned by the token's user; its id."""
    place = {"name": "Party", "address": "Main Street 1", "coordinates": {"x": 1.0, "y": 2.0}}
    created = (await http.post("/api/v1/events/create", json=place, headers=_bearer(token))).json()
    assert created["isSuccess"], created
    event_id: str = created["result"]["id"]
    return event_id


async def _close_of(socket: WebSocketConnection) -> tuple[int | None, str | None]:
    """Read (and drop) whatever comes until the server closes: its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await socket.get_message()
    reason = closed.value.reason
    return (reason.code, reason.reason) if reason is not None else (None, None)


async def _until(socket: WebSocketConnection, wanted: Callable[[str], bool]) -> str:
    """The first message `wanted` accepts (others are skipped)."""
    with trio.fail_after(5):
        while not wanted(message := str(await socket.get_message())):
            pass
    return message


async def test_logout_closes_every_socket_of_the_user_within_a_second(
    http: httpx.AsyncClient, config: settings.Settings, server: Running
) -> None:
    """POST /logout: the user's five sockets (clicker on both ports, orders, parties,
    channels' Socket.IO) are each closed with 1008 `logged out` within 1 s of the request;
    another user's sockets on the same endpoints are served on."""
    alice = await everywhere_user(http, config.storage.path)
    bob = await register(http)
    prepare_player(config.storage.path, user_id_of(bob), {1: 1})
    token = alice["access_token"]
    event_id = await _open_event(http, token)
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        channels = await enter(
            open_websocket_url(
                f"ws://127.0.0.1:{server.ws_port}/socket.io/?EIO=4&transport=websocket"
            )
        )
        await open_namespace(channels)
        await emit_event(channels, "auth", {"token": token})
        assert (await receive_event(channels))[0] == "auth-success"
        parties = (
            f"ws://127.0.0.1:{server.http_port}/api/v1/websockets/event"
            f"?accessToken={token}&eventId={event_id}"
        )
        sockets = {
            "clicker, listener": (await enter(connect(server.ws_port, token))).socket,
            "clicker, HTTP port": (await enter(connect(server.http_port, token))).socket,
            "orders": (await enter(orders_socket(server.ws_port, token))).socket,
            "parties": await enter(open_websocket_url(parties)),
            "channels": channels,
        }
        bob_clicker = await enter(connect(server.http_port, bob["access_token"]))
        bob_orders = await enter(orders_socket(server.ws_port, bob["access_token"]))

        started = trio.current_time()
        response = await http.post("/logout", headers=_bearer(token))
        assert (response.status_code, response.json()) == (200, {"status": 0})
        closes: dict[str, tuple[int | None, str | None, bool]] = {}

        async def watch(name: str, socket: WebSocketConnection) -> None:
            code, reason = await _close_of(socket)
            closes[name] = (code, reason, trio.current_time() - started < 1.0)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for name, socket in sockets.items():
                    nursery.start_soon(watch, name, socket)
        assert closes == {name: (1008, "logged out", True) for name in sockets}

        assert await bob_clicker.request("cook") == {"dishes": 1, "xp": 1}
        await bob_orders.send({"type": "ping"})
        assert await bob_orders.expect("pong") is None


async def test_a_logout_ends_every_token_issued_before_it_across_restarts(
    tmp_path: Path,
) -> None:
    """After POST /logout the user's earlier access token is refused at every place that
    takes one, their refresh token at /refresh, and /logout itself refuses it; a new login
    is served everywhere. A restart keeps all of that; another user is not affected."""
    config = make_settings(tmp_path)
    await seed_database(config)
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(server_module.main, config)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
            alice = await everywhere_user(http, config.storage.path, "alice@example.com")
            bob = await everywhere_user(http, config.storage.path)
            old = alice["access_token"]
            assert await answers_to(old, http, running.ws_port) == ACCEPTED
            assert (await http.post("/logout", headers=_bearer(old))).status_code == 200
            assert await answers_to(old, http, running.ws_port) == REFUSED
            refused = {"status": "1", "message": "token invalid"}
            for route, presented in (("/refresh", alice["refresh_token"]), ("/logout", old)):
                response = await http.post(route, headers=_bearer(presented))
                assert (response.status_code, response.json()) == (401, refused)
            credentials = {"email": "alice@example.com", "password": "correct horse"}
            login = await http.post("/auth", json=credentials)
            new = login.json()["tokens"]["access_token"]
            assert await answers_to(new, http, running.ws_port) == ACCEPTED
        running.stop.set()
    async with trio.open_nursery() as nursery:
        running = await nursery.start(server_module.main, config)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
            assert await answers_to(old, http, running.http_port) == REFUSED
            assert await answers_to(new, http, running.http_port) == ACCEPTED
            assert await answers_to(bob["access_token"], http, running.http_port) == ACCEPTED
        running.stop.set()


# No worker threads: the autojump clock would jump while one works.
@pytest.mark.settings(server={"worker_threads": False})
@pytest.mark.parametrize("app", ["orders", "parties"])
async def test_a_socket_closes_when_its_token_expires(
    autojump_clock: trio.testing.MockClock,
    http: httpx.AsyncClient,
    config: settings.Settings,
    ws_port: int,
    app: str,
) -> None:
    """An orders or parties socket, authenticated once by the token in its URL, is closed
    with 1008 `token expired` when that token expires (60 s here): it is served at 55 s,
    closed between 59 and 61 s (less the real time of connecting); the same user's
    socket with a longer-lived token stays and is served. (The clicker checks the token
    of every request instead, and the channels' Socket.IO sockets outlive their 5-minute
    tokens: docs/.)"""
    alice = await everywhere_user(http, config.storage.path)
    codec = TokenCodec(
        access_secret=TEST_SECRETS["access_token"], refresh_secret=TEST_SECRETS["refresh_token"]
    )
    short = codec.issue("access", user_id_of(alice), 60, {"id": str(user_id_of(alice))}).token
    if app == "orders":
        url = partial("ws://127.0.0.1:{port}/?token={token}".format, port=ws_port)
        ping, pong = json.dumps({"type": "ping"}), '"pong"'
    else:
        event_id = await _open_event(http, alice["access_token"])
        url = partial(
            "ws://127.0.0.1:{port}/api/v1/websockets/event?accessToken={token}&eventId={event}".format,
            port=ws_port,
            event=event_id,
        )
        ping, pong = "chatMessage/still here", '"message":"still here"'
    start = trio.current_time()
    async with (
        open_websocket_url(url(token=short)) as expiring,
        open_websocket_url(url(token=alice["access_token"])) as lasting,
    ):
        await trio.sleep(55)
        await expiring.send_message(ping)
        assert pong in await _until(expiring, lambda message: pong in message)
        assert await _close_of(expiring) == (1008, "token expired")
        # `exp` has whole seconds, so the token lives 59 to 60 s of wall time, and the
        # real milliseconds the connecting took do not show on this (mock) clock.
        assert 58.5 <= trio.current_time() - start < 61
        await lasting.send_message(ping)
        assert pong in await _until(lasting, lambda message: pong in message)
        assert lasting.closed is None
