"""Remembered answers: bounded by the idempotency window and by MAX_ANSWERS."""

from __future__ import annotations

from handlers.clicker.players import MAX_ANSWERS, Player


def test_answers_expire_with_the_window() -> None:
    player = Player(1)
    player.remember("a", "cook", b"1", now=100, window=60)
    player.remember("b", "cook", b"2", now=150, window=60)
    assert player.recall("a", "cook") == b"1"
    player.remember("c", "sell", b"3", now=161, window=60)  # "a" is now 61 s old
    assert player.recall("a", "cook") is None
    assert player.recall("b", "cook") == b"2"
    assert player.recall("c", "cook") is None  # same id, another request type: not a retry
    assert player.recall("c", "sell") == b"3"


def test_answers_are_capped_oldest_first() -> None:
    player = Player(1)
    for n in range(MAX_ANSWERS + 10):
        player.remember(f"r{n}", "cook", b"x", now=1000, window=600)
    assert len(player.answers) == MAX_ANSWERS
    assert player.recall("r9", "cook") is None
    assert player.recall("r10", "cook") == b"x"
    player.remember("r10", "cook", b"y", now=1001, window=600)  # remembered again: newest
    assert list(player.answers)[-1] == "r10"
