"""The random walk and the symbol table."""

from __future__ import annotations

import itertools
import math

import pytest
from petrosa_sim.walk import RandomWalk, symbol_spec

START_MS = 1_700_000_000_000


def _path(seed: int, symbol: str) -> list[float]:
    walk = RandomWalk(symbol_spec(symbol), seed=seed, start_ms=START_MS)
    return [walk.advance_to(START_MS + 1_000 * i) for i in range(1, 500)]


def test_same_seed_and_symbol_give_the_same_path() -> None:
    assert _path(3, "BTCUSDT") == _path(3, "BTCUSDT")


def test_seed_and_symbol_each_change_the_path() -> None:
    base = _path(3, "BTCUSDT")
    assert _path(4, "BTCUSDT") != base
    assert [p / base[0] for p in _path(3, "ETHUSDT")] != [p / base[0] for p in base]


@pytest.mark.parametrize(("symbol", "level"), [("BTCUSDT", 60_000.0), ("ETHUSDT", 3_000.0)])
def test_majors_start_near_their_real_price(symbol: str, level: float) -> None:
    walk = RandomWalk(symbol_spec(symbol), seed=0, start_ms=START_MS)
    assert 0.9 * level < walk.price < 1.1 * level


@pytest.mark.parametrize("symbol", ["ABCUSDT", "ZZZUSDT", "FOOBARUSDT", "Q1USDT"])
def test_unknown_symbols_get_a_stable_price_between_1_and_500(symbol: str) -> None:
    spec = symbol_spec(symbol)
    assert spec == symbol_spec(symbol)
    assert 1.0 <= spec.base_price <= 500.0
    # Ticks are fine enough that the walk is not stuck on one price level.
    assert spec.tick <= spec.base_price * 1e-4


def test_walk_is_a_geometric_random_walk_with_moderate_volatility() -> None:
    prices = _path(1, "BTCUSDT")
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    per_second = math.sqrt(sum(r * r for r in returns) / len(returns))
    # About 3.5 %/day: 1.2e-4 per second; anything in the same order of magnitude is realistic.
    assert 5e-5 < per_second < 3e-4
    assert all(p > 0 for p in prices)


def test_advancing_to_an_earlier_time_changes_nothing() -> None:
    walk = RandomWalk(symbol_spec("ETHUSDT"), seed=2, start_ms=START_MS)
    price = walk.advance_to(START_MS + 5_000)
    assert walk.advance_to(START_MS + 1_000) == price
    assert walk.time_ms == START_MS + 5_000
