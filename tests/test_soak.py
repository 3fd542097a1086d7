"""The mixed soak's verdict (`scripts/soak/mixed.py`): a latency tail fails it."""

from __future__ import annotations

from scripts.soak.mixed import MixedReport


def test_a_latency_tail_fails_the_mixed_soak() -> None:
    report = MixedReport(
        duration=1260,
        warmup=660,
        rss_kib=[(600, 100_000), (720, 101_000), (1260, 102_000)],
        loads={"cook": {"count": 700_000, "p50_ms": 2.1, "p99_ms": 5_600.0, "errors": 0}},
        invariants={"hold": True},
    )
    assert report.failures() == ["cook: p99 latency 5600 ms"]  # the stall of 2026-12-02
    report.loads["cook"]["p99_ms"] = 28.0
    assert report.failures() == []
