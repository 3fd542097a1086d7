"""Click & Cook's service: authenticates requests, runs rules, commits, and ticks.

Every change to a player follows one path, `Game.play`: under the player's
lock, compute the next `Progress` from the committed one, commit it (with the
request's answer, for retries) and only then keep it and answer. So whatever
a client was told is on disk, and a failed commit changes nothing.

Invariants: a connection acts for one user, fixed by the first valid token it
sends; commands other than `session` run only after that connection's
session; one retry of a request id gets the first answer and changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
import trio

from handlers.accounts import TokenCodec, TokenExpired, TokenInvalid
from handlers.clicker import rules, store
from handlers.clicker.players import Player, Players
from handlers.clicker.rules import Catalogue, GameError, Outcome, Progress
from realtime.codec import RequestId
from realtime.commands import CommandError, Context, Direct
from realtime.connection import Connection
from realtime.envelope import TEXTS
from realtime.hub import Hub, TooManyConnections
from realtime.transport import POLICY_VIOLATION
from storage import Database, StorageError, request_log

logger = logging.getLogger("hearth.clicker")

SCOPE = "clicker"
PRUNE_CHUNK = 1000  # request-log rows looked at per pruning transaction
# A push is a system call: a tick of 5,000 players pushing in one go held every other
# task for about 100 ms each second on a busy host; in turns of 256, for about 30 ms.
PUSHES_PER_TURN = 256
_encode = msgspec.json.Encoder().encode


@dataclass(eq=False)
class Seat:
    """What the clicker knows of one connection."""

    token: str = ""  # the last token that verified, so a repeat skips the signature check
    token_expires: int = 0
    player: Player | None = None  # set by the connection's session


def seat_of(connection: Connection) -> Seat:
    seat = connection.app_state
    if seat is None:
        seat = connection.app_state = Seat()
    assert isinstance(seat, Seat)
    return seat


Ctx = Context["Game", Any]


class Game:
    def __init__(
        self,
        *,
        db: Database,
        hub: Hub,
        tokens: TokenCodec,
        catalogue: Catalogue,
        players: Players,
        idempotency_window: int,
    ) -> None:
        self.db = db
        self.hub = hub
        self.tokens = tokens
        self.catalogue = catalogue
        self.players = players
        self.idempotency_window = idempotency_window
        # Answers may wait in the request log's journal: at start, what a crash left there.
        self._unfolded = True

    # -- the guard every command passes first --------------------------------------

    async def guard(self, ctx: Ctx) -> None:
        connection = ctx.connection
        seat = seat_of(connection)
        token: str = ctx.data.token
        if not token:
            raise CommandError("missing token")
        if token != seat.token or time.time() >= seat.token_expires:
            try:
                claims = self.tokens.verify(token, "access")
            except TokenExpired:
                raise CommandError("token expired") from None
            except TokenInvalid:
                raise CommandError("token invalid") from None
            if connection.user_id is None:
                try:
                    self.hub.bind_user(connection, claims.user_id)
                except TooManyConnections:
                    raise CommandError(
                        "too many connections", close_code=POLICY_VIOLATION
                    ) from None
            elif connection.user_id != claims.user_id:
                raise CommandError("token belongs to another user")
            seat.token, seat.token_expires = token, claims.expires_at
        if seat.player is None and ctx.action != "session":
            raise CommandError("session not started")

    def reply_room(self, ctx: Ctx) -> str | None:
        """Answers go to every connection of the user that has started its session."""
        player = seat_of(ctx.connection).player
        return player.room if player is not None else None

    def on_close(self, connection: Connection) -> None:
        seat = connection.app_state
        if isinstance(seat, Seat) and seat.player is not None:
            self.players.disconnect(seat.player)
            seat.player = None

    # -- sessions and plays ---------------------------------------------------------

    async def open_session(self, ctx: Ctx) -> dict[str, Any]:
        connection = ctx.connection
        user_id = connection.user_id
        assert user_id is not None  # the guard bound it
        seat = seat_of(connection)
        player = self.players.get(user_id)
        async with player.lock:
            if player.progress is None:
                await self._load(player)
            assert player.progress is not None
            if seat.player is None:
                seat.player = player
                self.players.connect(player)
                self.hub.join(connection, player.room)
            return rules.session_view(player.progress, self.catalogue, user_id, player.email)

    async def _load(self, player: Player) -> None:
        since = int(time.time()) - self.idempotency_window

        def load(
            connection: sqlite3.Connection,
        ) -> tuple[tuple[str, Progress] | None, request_log.Ring]:
            loaded = store.load_player(connection, player.user_id, self.catalogue)
            return loaded, request_log.recent(connection, player.user_id, SCOPE, since)

        loaded, ring = await self.db.write(load)
        if loaded is None:  # a valid token for a user that no longer exists
            raise CommandError("token invalid")
        player.email, player.progress = loaded
        player.answers = {key: (action, answer, at) for key, action, answer, at in ring.answers}
        player.logged = ring.next_seq

    def progress_of(self, ctx: Ctx) -> Progress:
        player = seat_of(ctx.connection).player
        assert player is not None and player.progress is not None  # the guard saw the session
        return player.progress

    async def play(self, ctx: Ctx, rule: Callable[[Progress], Outcome]) -> Any:
        """Apply `rule` to the player's progress, commit, and answer.

        A retried request id gets its first answer (to the requester only).
        A rule that changes nothing commits nothing.
        """
        player = seat_of(ctx.connection).player
        assert player is not None and player.progress is not None
        key = _request_key(ctx.request_id)
        async with player.lock:
            if key is not None:
                answer = player.recall(key, ctx.action)
                if answer is not None:
                    return Direct(msgspec.Raw(answer))
            old = player.progress
            try:
                new, data = rule(old)
            except GameError as refusal:
                raise CommandError(refusal.message) from None
            if new is old:
                return data
            now = int(time.time())
            encoded = _encode(data) if key is not None else b""
            commit = partial(
                self._commit, player.user_id, old, new, key, player.logged, ctx.action, encoded, now
            )
            try:
                await self.db.write(commit)
            except store.StaleProgress:
                await self._reload_stale(player)
                raise CommandError(TEXTS.unavailable) from None
            player.progress = new
            if key is None:
                return data
            player.logged += 1
            player.remember(key, ctx.action, encoded, now, self.idempotency_window)
            self._unfolded = True
        return msgspec.Raw(encoded)  # the answer is encoded once, for the log and the reply

    @staticmethod
    def _commit(
        user_id: int,
        old: Progress,
        new: Progress,
        key: str | None,
        seq: int,
        action: str,
        answer: bytes,
        now: int,
        connection: sqlite3.Connection,
    ) -> None:
        store.save(connection, user_id, old, new)
        if key is not None:
            request_log.remember(connection, user_id, SCOPE, seq, key, action, answer, now)

    # -- passive income ---------------------------------------------------------------

    async def tick(self) -> None:
        """One passive tick for every connected player with passive income, in one commit."""
        players = list(self.players.passive())
        if not players:
            return
        held: list[Player] = []
        busy: list[Player] = []
        try:
            for player in players:  # take the free locks first, then wait for the busy few
                try:
                    player.lock.acquire_nowait()
                except trio.WouldBlock:
                    busy.append(player)
                else:
                    held.append(player)
            for player in busy:
                await player.lock.acquire()
                held.append(player)
            changes = []
            for player in held:
                old = player.progress
                if old is None or not old.stats.passive:  # reset while we waited
                    continue
                changes.append((player, old, rules.tick(old)))
            try:
                stale = await self.db.write(partial(self._commit_ticks, changes))
            except StorageError as error:
                logger.warning("passive tick not committed: %s", error)
                return
            ticked: list[tuple[Player, Progress]] = []
            for player, _, new in changes:
                if player.user_id in stale:
                    await self._reload_stale(player)
                else:
                    player.progress = new
                    ticked.append((player, new))
            for pushed, (player, new) in enumerate(ticked):
                if pushed and pushed % PUSHES_PER_TURN == 0:
                    await trio.lowlevel.checkpoint()  # pushes are writes: let others run
                self.hub.push(player.room, "passive", rules.passive_snapshot(new))
        finally:
            for player in held:
                player.lock.release()

    @staticmethod
    def _commit_ticks(
        changes: list[tuple[Player, Progress, Progress]], connection: sqlite3.Connection
    ) -> set[int]:
        """Store every tick; returns the users whose rows were not as expected (unchanged)."""
        ticks = [(player.user_id, old, new) for player, old, new in changes]
        return store.save_ticks(connection, ticks)

    async def _reload_stale(self, player: Player) -> None:
        """The row changed behind our back (a tool wrote it): take the stored one as the truth."""
        logger.warning("player %d changed outside the server; reloading it", player.user_id)
        await self._load(player)

    async def fold_answers(self) -> None:
        """Fold the answers remembered since the last fold into the request log's ring."""
        if not self._unfolded:
            return  # no write transaction for nothing, ten times a second
        self._unfolded = False
        try:
            await self.db.write(request_log.fold)
        except StorageError as error:
            self._unfolded = True
            logger.warning("request log not folded: %s", error)

    async def maintain(self) -> None:
        """Evict idle players and forget answers older than the idempotency window.

        The log is walked in small transactions so no write waits behind a big delete.
        """
        self.players.evict_idle()
        before = int(time.time()) - self.idempotency_window
        after: int | None = 0  # user ids start at 1
        try:
            while after is not None:
                prune = partial(
                    request_log.prune, before=before, after_user=after, rows=PRUNE_CHUNK
                )
                after = await self.db.write(prune)
        except StorageError as error:
            # A full disk must not end the sweep, and with it the server: try next time.
            logger.warning("request log not pruned: %s", error)


def _request_key(request_id: RequestId) -> str | None:
    """The request log's key for a request id; None when the request has none."""
    if request_id == "":
        return None
    return _encode(request_id).decode()
