"""Command tables: each app's commands, by name, with their data schema.

A command is one async function that receives one `Context` (db, services,
data, connection, logger, action: the shape seed 000 describes) and returns
the reply's data. Adding a command is one function and one `@commands.command`
line; the data is validated against the schema before the function runs, so a
handler only ever sees well-formed data. A handler reports a documented
failure by raising `CommandError(message)`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from realtime.codec import RequestId
from realtime.connection import Connection
from storage import Database

S = TypeVar("S")  # the app's services
T = TypeVar("T")  # another app's services
D = TypeVar("D")  # the command's data


class CommandError(Exception):
    """A documented failure: its message goes to the client in the codec's error frame.

    `details` are more fields for the frame; with `close_code`, the connection is
    closed with that code after the frame.
    """

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.close_code = close_code


class Direct(NamedTuple):
    """A reply for the requesting connection only, whatever the endpoint's reply scope."""

    data: Any


class Emitted(NamedTuple):
    """`data` sent to the requesting connection as the event `event`, which is also the
    reply when the request asked for one (Socket.IO's acknowledgement): the garage's
    way. The event and the reply go out in one write."""

    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class Context(Generic[S, D]):
    db: Database
    services: S
    data: D
    connection: Connection
    logger: logging.Logger
    action: str
    request_id: RequestId

    def push(self, event: str, data: Any = None) -> None:
        """Send an event to this connection (in its codec's framing)."""
        self.connection.push(self.connection.codec.encode_push(event, data))


Handler = Callable[[Context[S, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Command(Generic[S]):
    name: str
    schema: type[Any]
    handler: Handler[S]
    services: Any = None  # when set, the services this command's handler gets


class Commands(Generic[S]):
    """An app's command table."""

    def __init__(self) -> None:
        self._by_name: dict[str, Command[S]] = {}

    def command(
        self, name: str, schema: type[Any], *, aliases: tuple[str, ...] = ()
    ) -> Callable[[Handler[S]], Handler[S]]:
        """Register the decorated handler under `name` (and `aliases`), taking `schema` data."""

        def register(handler: Handler[S]) -> Handler[S]:
            for key in (name, *aliases):
                if key in self._by_name:
                    raise ValueError(f"command {key!r} is registered twice")
                self._by_name[key] = Command(key, schema, handler)
            return handler

        return register

    def get(self, name: str) -> Command[S] | None:
        return self._by_name.get(name)

    def include(self, other: Commands[T], services: T) -> list[str]:
        """Serve `other`'s commands here too, their handlers getting `services`.

        This is how apps share one endpoint (channels and garage on `/socket.io/`).
        Returns the names added.
        """
        for name, command in other._by_name.items():
            if name in self._by_name:
                raise ValueError(f"command {name!r} is registered twice")
            self._by_name[name] = Command(name, command.schema, command.handler, services)  # type: ignore[arg-type]
        return list(other._by_name)
