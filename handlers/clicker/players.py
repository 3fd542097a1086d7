"""The players held in memory: loaded on their first session, kept while they play.

A `Player` is one user's live game: the last committed `Progress`, a lock
that serialises every change to it (commands of all the user's connections,
and the passive ticker), and the answers to recent request ids.

Invariants: at most one `Player` per user exists at a time, so two loads of
the same user can never diverge; `progress` only ever holds committed state
(it is replaced after the commit, under the lock); a player is evicted only
when no connection is playing it and nothing holds its lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import trio

from handlers.clicker.rules import Progress
from handlers.clicker.turn import Turn
from storage import request_log

# Answers remembered per player: a retry is of one of the last few requests, and
# this bounds a busy clicker's memory whatever the idempotency window. The request
# log keeps as many, so a reload remembers what memory did.
MAX_ANSWERS = request_log.CAPACITY


# Slots: the ticker reads a few attributes of every connected player each second.
@dataclass(eq=False, slots=True)
class Player:
    user_id: int
    email: str = ""
    progress: Progress | None = None  # None until loaded
    lock: Turn = field(default_factory=Turn)
    connections: int = 0
    idle_since: float = 0.0
    # request key -> (action, encoded answer, unix time); oldest first
    answers: dict[str, tuple[str, bytes, int]] = field(default_factory=dict)
    logged: int = 0  # the number of its next answer in the request log (set by the load)
    # The hub room of every connection playing it: named once, the ticker publishes to it.
    room: str = field(init=False)

    def __post_init__(self) -> None:
        self.room = f"clicker:user:{self.user_id}"

    @property
    def busy(self) -> bool:
        """Something holds the lock: a command of the user, or the ticker."""
        return self.lock.held

    def recall(self, key: str, action: str) -> bytes | None:
        """The first answer to this request, if it is a retry of one still remembered."""
        remembered = self.answers.get(key)
        if remembered is None or remembered[0] != action:
            return None
        return remembered[1]

    def remember(self, key: str, action: str, answer: bytes, now: int, window: int) -> None:
        answers = self.answers
        answers.pop(key, None)
        answers[key] = (action, answer, now)
        while True:  # forget from the oldest: over capacity, or out of the window
            oldest = next(iter(answers))
            if len(answers) <= MAX_ANSWERS and answers[oldest][2] >= now - window:
                break
            del answers[oldest]


class Players:
    def __init__(self, *, idle_eviction: float) -> None:
        self._idle_eviction = idle_eviction
        self._players: dict[int, Player] = {}
        self._connected: set[Player] = set()

    def get(self, user_id: int) -> Player:
        """The user's player, created (not yet loaded) if not in memory."""
        player = self._players.get(user_id)
        if player is None:
            player = self._players[user_id] = Player(user_id)
        return player

    def connect(self, player: Player) -> None:
        player.connections += 1
        self._connected.add(player)

    def disconnect(self, player: Player) -> None:
        player.connections -= 1
        if player.connections == 0:
            self._connected.discard(player)
            player.idle_since = trio.current_time()

    def passive(self) -> Iterator[Player]:
        """Connected, loaded players whose upgrades earn passive income."""
        for player in self._connected:
            if player.progress is not None and player.progress.stats.passive:
                yield player

    def evict_idle(self) -> int:
        """Drop players nobody has played for `idle_eviction` seconds; returns how many."""
        cutoff = trio.current_time() - self._idle_eviction
        idle = [
            user_id
            for user_id, player in self._players.items()
            if player.connections == 0 and not player.busy and player.idle_since <= cutoff
        ]
        for user_id in idle:
            del self._players[user_id]
        return len(idle)
