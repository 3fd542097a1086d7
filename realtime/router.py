"""Which endpoint serves a WebSocket path, and whether a handshake may upgrade.

Both transport adapters ask the router; so every endpoint is reachable on
both ports and is guarded the same way on each.

Invariant: a handshake is accepted only for a known path, from an allowed
Origin (or none: non-browser clients send none), and after the endpoint's own
admission check (e.g. a token in the query) has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

from realtime.endpoint import Admission, Refusal
from realtime.transport import Handshake, Transport


class Service(Protocol):
    """What serves a WebSocket path: an `Endpoint`, or Engine.IO's server."""

    path: str
    admit: Admission | None

    async def serve(self, transport: Transport, handshake: Handshake) -> None: ...


class OriginPolicy:
    """The browser Origins allowed to open WebSockets: the server's own (the Origin's host
    is the request's Host), exact matches from the list, or any with "*"."""

    def __init__(self, allowed: list[str]) -> None:
        self._any = "*" in allowed
        self._allowed = frozenset(origin.rstrip("/").lower() for origin in allowed)

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        same_origin = host is not None and urlsplit(origin).netloc == host.lower()
        return self._any or same_origin or origin in self._allowed


class Router:
    def __init__(self, origins: OriginPolicy) -> None:
        self._origins = origins
        self._endpoints: dict[str, Service] = {}

    def add(self, endpoint: Service) -> None:
        if endpoint.path in self._endpoints:
            raise ValueError(f"two endpoints on {endpoint.path}")
        self._endpoints[endpoint.path] = endpoint

    def __iter__(self) -> Iterator[Service]:
        return iter(self._endpoints.values())

    async def admit(self, handshake: Handshake) -> Service | Refusal:
        """The endpoint that will serve `handshake`, or the HTTP answer that refuses it."""
        endpoint = self._endpoints.get(handshake.path)
        if endpoint is None:
            return Refusal(404, "no WebSocket endpoint here")
        headers = handshake.headers
        if not self._origins.allows(headers.get("origin"), headers.get("host")):
            return Refusal(403, "origin not allowed")
        if endpoint.admit is not None:
            refusal = await endpoint.admit(handshake)
            if refusal is not None:
                return refusal
        return endpoint
