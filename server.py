"""Hearth's composition root: settings -> storage -> apps -> one Trio nursery.

    python server.py [--config FILE]...

Runs, in one process: Hypercorn with the Quart-Trio app (REST routes and every
WebSocket endpoint), the wsproto listener (the same endpoints on their own
port), keepalive, each app's background tasks, and the storage writer.

Shutdown (SIGTERM, SIGINT or `Running.stop`): stop accepting on both ports,
close every WebSocket with 1001, let in-flight HTTP requests finish, stop the
background tasks, commit what the writer holds, and return (exit status 0).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.trio import serve as hypercorn_serve
from quart import g, jsonify, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

import settings as settings_module
from handlers import channels, clicker, docs, garage, orders, parties
from handlers.accounts import Accounts, PasswordHasher, PasswordsBusy, SignInThrottle, TokenCodec
from handlers.site import Site
from handlers.web import MsgspecJSON
from realtime import quart_routes
from realtime.echo import Echo
from realtime.endpoint import Limits
from realtime.engineio import EngineOptions
from realtime.http_server import HttpConfig, HttpFront
from realtime.hub import Hub
from realtime.keepalive import run_keepalive
from realtime.listener import serve_listener, serve_stream
from realtime.router import OriginPolicy, Router
from realtime.socketio import SocketIOService
from realtime.transport import GOING_AWAY
from settings import Settings
from storage import Database, StorageError, open_database

logger = logging.getLogger("hearth")
STORAGE_UNAVAILABLE = "storage unavailable, try again"  # the 503's message (REST)
PASSWORDS_BUSY = "too many sign-ins at once, try again"  # the 503's message for those


@dataclass(frozen=True)
class Running:
    """What `main` reports once it listens: the bound ports, and how to stop it."""

    http_port: int
    ws_port: int
    stop: trio.Event


@dataclass
class Built:
    """The site with every app installed, and the background tasks they need."""

    site: Site
    background: list[Callable[[], Awaitable[None]]]


async def build(config: Settings, db: Database) -> Built:
    """Create the shared parts and install every app into them."""
    http = create_http_app(config)
    hub = Hub(max_connections_per_user=config.realtime.max_connections_per_user)
    origins = OriginPolicy(config.realtime.allowed_origins)
    router = Router(origins)
    limits = Limits(
        outbox_size=config.realtime.outbound_queue,
        rate_per_second=config.realtime.rate_per_second,
        rate_burst=config.realtime.rate_burst,
    )
    accounts = Accounts(
        db,
        PasswordHasher(
            cost=config.accounts.bcrypt_cost,
            key=config.secrets.password_key.encode(),
            max_waiting=config.accounts.max_waiting_password_checks,
            worker_threads=config.server.worker_threads,
        ),
        TokenCodec(
            access_secret=config.secrets.access_token,
            refresh_secret=config.secrets.refresh_token,
            issuer=config.accounts.token_issuer,
            audience=config.accounts.token_audience,
        ),
        throttle=SignInThrottle(
            free=config.accounts.sign_in_free_failures,
            longest=config.accounts.sign_in_longest_wait,
        ),
        min_password_length=config.accounts.min_password_length,
    )
    await accounts.load_logouts()
    sio = SocketIOService(
        options=EngineOptions(
            ping_interval=config.socketio.ping_interval,
            ping_timeout=config.socketio.ping_timeout,
            max_payload=config.realtime.max_message_bytes,
        ),
        db=db,
        hub=hub,
        limits=limits,
        logger=logging.getLogger("hearth.socketio"),
        default_style=channels.ERROR_EVENTS,
    )
    site = Site(http, router, hub, db, accounts, limits, sio)
    background = await clicker.install(
        site,
        settings=config.clicker,
        idempotency_window=config.realtime.idempotency_window,
    )
    background += await orders.install(site, settings=config.orders)
    channels.install(site, settings=config.channels)
    garage.install(site, settings=config.garage)
    parties.install(
        site,
        settings=config.parties,
        min_password_length=config.accounts.min_password_length,
    )
    router.add(sio.engine)
    if config.realtime.debug_echo:
        router.add(Echo())
    quart_routes.mount_polling(http, sio.engine, origins)
    background.append(sio.engine.run)
    quart_routes.mount(http, router, max_message_bytes=config.realtime.max_message_bytes)
    return Built(site, background)


def create_http_app(config: Settings) -> QuartTrio:
    app = QuartTrio("hearth")
    app.config["MAX_CONTENT_LENGTH"] = config.server.max_body_bytes
    docs.install(app)
    app.json = MsgspecJSON(app)  # after quart-schema, which sets its own
    if config.server.trace_requests:
        trace_requests(app)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        return jsonify({"error": error.name, "message": error.description}), error.code

    @app.errorhandler(StorageError)
    async def storage_unavailable(error: StorageError) -> Any:
        # The database could not take the write (disk full, I/O error): nothing of the
        # request was applied. A documented 503 the client may retry, not a 500 and a bug.
        logger.warning("%s %s: %s", request.method, request.path, error)
        return _unavailable(STORAGE_UNAVAILABLE)

    @app.errorhandler(PasswordsBusy)
    async def passwords_busy(error: PasswordsBusy) -> Any:
        # A flood of sign-ins holds every bcrypt worker and the queue behind them.
        return _unavailable(PASSWORDS_BUSY)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Any:
        logger.exception("request failed", exc_info=error)
        return jsonify({"error": "Internal Server Error", "message": "internal error"}), 500

    return app


def _unavailable(message: str) -> Any:
    """Hearth's 503, the same in every app: nothing was done, the client may retry."""
    body = {"error": "Service Unavailable", "message": message}
    return jsonify(body), 503, {"Retry-After": "1"}


def trace_requests(app: QuartTrio) -> None:
    """Log one line per HTTP request: method, path (no query: it may hold a token),
    status and milliseconds (LOGGING_TRACE_REQUESTS)."""
    trace = logging.getLogger("hearth.http.trace")

    @app.before_request
    async def started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    async def finished(response: Any) -> Any:
        elapsed = (time.perf_counter() - g.started) * 1000
        trace.info("%s %s %d %.1fms", request.method, request.path, response.status_code, elapsed)
        return response


def hypercorn_config(config: Settings, router: Router) -> HttpConfig:
    server, realtime = config.server, config.realtime
    hypercorn = HttpConfig()
    # A connection opened for a WebSocket is served as the listener serves one.
    hypercorn.websockets = partial(serve_stream, router, realtime.max_message_bytes)
    host = f"[{server.host}]" if ":" in server.host else server.host
    hypercorn.bind = [f"{host}:{server.http_port}"]
    hypercorn.graceful_timeout = server.shutdown_timeout
    hypercorn.websocket_max_message_size = realtime.max_message_bytes
    # Hypercorn pings the WebSockets it serves (upgrades after other requests on a kept
    # connection); a peer silent for two intervals (it missed a pong) is dropped by the
    # read timeout.
    hypercorn.websocket_ping_interval = realtime.ping_interval
    hypercorn.read_timeout = max(1, int(2 * realtime.ping_interval))
    hypercorn.include_server_header = False
    hypercorn.accesslog = None
    hypercorn.errorlog = logging.getLogger("hearth.http")
    return hypercorn


async def main(
    config: Settings,
    *,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until stopped; report `Running` once both ports listen."""
    stop = trio.Event()
    storage = config.storage
    async with open_database(
        Path(storage.path),
        synchronous=storage.synchronous,
        readers=storage.readers,
        max_batch=storage.max_batch,
        busy_timeout_ms=storage.busy_timeout_ms,
        worker_threads=config.server.worker_threads,
    ) as db:
        built = await build(config, db)
        site = built.site
        async with trio.open_nursery() as connections, trio.open_nursery() as front:
            if handle_signals:
                front.start_soon(_stop_on_signals, stop)
            http_stopped = trio.Event()
            http_scope = trio.CancelScope()
            requests = HttpFront(site.http)
            binds = await front.start(
                _in_scope,
                http_scope,
                partial(
                    hypercorn_serve,
                    requests,
                    hypercorn_config(config, site.router),
                    shutdown_trigger=http_stopped.wait,
                ),
            )
            http_port = int(binds[0].rsplit(":", 1)[1])
            listener = trio.CancelScope()
            ws_port = await front.start(
                _in_scope,
                listener,
                partial(
                    serve_listener,
                    site.router,
                    config.server.host,
                    config.server.ws_port,
                    max_message_bytes=config.realtime.max_message_bytes,
                    connections=connections,
                ),
            )
            background = trio.CancelScope()
            keepalive = partial(run_keepalive, site.hub, config.realtime.ping_interval)
            tasks: list[Callable[[], Awaitable[None]]] = [*built.background, keepalive]
            front.start_soon(partial(_run_background, background, tasks))
            logger.info(
                "listening http=%s:%d ws=%s:%d",
                config.server.host,
                http_port,
                config.server.host,
                ws_port,
            )
            task_status.started(Running(http_port, ws_port, stop))

            await stop.wait()
            logger.info("shutting down")
            listener.cancel()
            http_stopped.set()  # Hypercorn stops accepting
            grace = config.server.shutdown_timeout
            await site.hub.close_all(GOING_AWAY, "server shutting down", grace=grace)
            with trio.move_on_after(grace):
                await requests.idle()
            # Hypercorn would also wait for its WebSocket ping tasks, which outlive
            # their sockets by up to a ping interval: nothing is left to finish.
            http_scope.cancel()
            background.cancel()
            connections.cancel_scope.cancel()  # anything left there is not ours to wait for
    logger.info("stopped")


async def _in_scope(
    scope: trio.CancelScope,
    task: Callable[..., Awaitable[None]],
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await task(task_status=task_status)


async def _run_background(
    scope: trio.CancelScope, tasks: list[Callable[[], Awaitable[None]]]
) -> None:
    with scope:
        async with trio.open_nursery() as nursery:
            for task in tasks:
                nursery.start_soon(task)


async def _stop_on_signals(stop: trio.Event) -> None:
    """Begin a graceful shutdown on the first signal; after it, the defaults apply again
    (a second Ctrl-C interrupts at once)."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            stop.set()
            return


# The cyclic garbage collector's full pass scans every live object with the event loop
# stopped: with 5,000 connected players that measured 0.2-1.2 s, every few seconds, each
# one a missed passive tick and a latency spike. Hearth makes little cyclic garbage, so
# the collector runs far less often (first generation at 50,000 allocations instead of
# 700, full passes a tenth as often) and never rescans what startup loaded.
GC_THRESHOLDS = (50_000, 20, 100)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Hearth: realtime backend for small games and apps"
    )
    parser.add_argument(
        "--config",
        action="append",
        type=Path,
        default=[],
        help="a TOML file laid over config.toml (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        config = settings_module.load(args.config)
    except settings_module.SettingsError as error:
        print(f"hearth: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.server.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    status = 0
    try:
        trio.run(partial(main, config, handle_signals=True))
    except* (clicker.CatalogueMissing, orders.MenuMissing) as errors:
        logger.error("%s", errors.exceptions[0])
        status = 2
    return status


if __name__ == "__main__":
    sys.exit(run())
