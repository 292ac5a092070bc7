"""The per-minute weight budget, on a virtual clock (no real sleeping)."""

from __future__ import annotations

import asyncio

import pytest
from petrosa_backfiller.binance import ManualClock, WeightLimiter
from petrosa_backfiller.binance.limiter import RequestWindow

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z, a minute boundary


async def test_request_waits_for_next_minute_when_budget_is_spent() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(10, clock=clock, skew_tolerance=0.5)
    await limiter.acquire(5)
    await limiter.acquire(5)
    assert clock.time() == T0 + 10  # both fitted at once
    await limiter.acquire(1)
    assert clock.time() == T0 + 60.5  # next minute plus the skew tolerance
    assert limiter.used == 1
    assert limiter.budget_wait_seconds == pytest.approx(50.5)


async def test_request_heavier_than_budget_goes_alone_in_an_empty_minute() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(5, clock=clock)
    await limiter.acquire(10)
    assert clock.time() == T0 + 10
    await limiter.acquire(1)
    assert clock.time() >= T0 + 60


async def test_server_header_above_estimate_raises_it() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(100, clock=clock)
    await limiter.acquire(5)
    limiter.observe(95, sent_at=T0 + 10, received_at=T0 + 10.2)  # another process used 90
    assert limiter.used == 95
    await limiter.acquire(5)
    assert clock.time() == T0 + 10
    await limiter.acquire(1)
    assert clock.time() == T0 + 60.5


async def test_server_header_below_estimate_keeps_in_flight_weight() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(100, clock=clock)
    for _ in range(4):
        await limiter.acquire(10)
    limiter.observe(10, sent_at=T0 + 10, received_at=T0 + 10.1)  # only the first had landed
    assert limiter.used == 40


async def test_header_near_minute_boundary_is_not_trusted() -> None:
    clock = ManualClock(T0 + 60.1)
    limiter = WeightLimiter(100, clock=clock, skew_tolerance=0.5)
    await limiter.acquire(1)
    # Sent 0.1 s into the minute: the server may still have counted it in the old minute.
    limiter.observe(99, sent_at=T0 + 60.1, received_at=T0 + 60.2)
    assert limiter.used == 1
    clock.advance(1)
    limiter.observe(42, sent_at=T0 + 61.0, received_at=T0 + 61.1)
    assert limiter.used == 42


async def test_header_of_a_request_sent_in_the_previous_minute_is_ignored() -> None:
    clock = ManualClock(T0 + 59.9)
    limiter = WeightLimiter(100, clock=clock)
    await limiter.acquire(1)
    clock.advance(0.3)
    limiter.observe(80, sent_at=T0 + 59.9, received_at=T0 + 60.2)
    assert limiter.used == 0


async def test_pause_blocks_every_request_until_it_ends() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(100, clock=clock)
    limiter.pause_until(T0 + 130)
    await limiter.acquire(1)
    assert clock.time() == T0 + 130
    assert limiter.pause_wait_seconds == pytest.approx(120)


async def test_slow_down_halves_budget_then_recovers_step_by_step() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(1000, clock=clock, slowdown_seconds=120)
    limiter.slow_down()
    limiter.slow_down()
    assert limiter.effective_budget == 250
    clock.advance(119)
    await limiter.acquire(1)
    assert limiter.effective_budget == 250
    clock.advance(2)
    await limiter.acquire(1)
    assert limiter.effective_budget == 500
    clock.advance(121)
    await limiter.acquire(1)
    assert limiter.effective_budget == 1000


async def test_slow_down_has_a_floor() -> None:
    limiter = WeightLimiter(1000, clock=ManualClock(T0), min_budget_factor=0.125)
    for _ in range(10):
        limiter.slow_down()
    assert limiter.effective_budget == 125


async def test_concurrent_acquirers_never_exceed_the_minute_budget() -> None:
    clock = ManualClock(T0 + 10)
    limiter = WeightLimiter(50, clock=clock)
    grants: list[tuple[float, int]] = []

    async def worker(weight: int) -> None:
        for _ in range(20):
            await limiter.acquire(weight)
            grants.append((clock.time(), weight))

    await asyncio.gather(worker(5), worker(2), worker(10), worker(1))
    per_minute: dict[int, int] = {}
    for moment, weight in grants:
        per_minute[int(moment // 60)] = per_minute.get(int(moment // 60), 0) + weight
    assert sum(per_minute.values()) == 20 * (5 + 2 + 10 + 1)
    assert max(per_minute.values()) <= 50
    history = limiter.history()
    assert [m.weight_sent for m in history] == list(per_minute.values())
    assert all(m.budget == 50 for m in history)


async def test_history_lists_minutes_with_traffic() -> None:
    clock = ManualClock(T0 + 1)
    limiter = WeightLimiter(100, clock=clock)
    await limiter.acquire(7)
    limiter.observe(9, sent_at=T0 + 1, received_at=T0 + 1.1)
    clock.advance(120)
    await limiter.acquire(3)
    first, second = limiter.history()
    assert (first.minute_start_ms, first.requests, first.weight_sent) == (T0 * 1000, 1, 7)
    assert (first.weight_used, first.server_used) == (9, 9)
    assert (second.minute_start_ms, second.weight_sent, second.server_used) == (
        (T0 + 120) * 1000,
        3,
        None,
    )


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WeightLimiter(0)


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock(0.0)
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append((name, clock.time()))

    await asyncio.gather(sleeper("late", 30), sleeper("early", 10), sleeper("mid", 20))
    assert order == [("early", 10.0), ("mid", 20.0), ("late", 30.0)]


async def test_request_window_waits_for_the_next_window_when_full() -> None:
    clock = ManualClock(T0 + 100)  # 100 s into a 5-minute window
    window = RequestWindow(3, 300.0, clock.time, clock)
    for _ in range(3):
        await window.acquire()
    assert clock.time() == T0 + 100
    await window.acquire()
    assert clock.time() == T0 + 300  # the 4th went into the next window
    await window.acquire()
    await window.acquire()
    assert clock.time() == T0 + 300
