"""Spread kernel and its Book input: every number of a small book worked out by hand."""

from __future__ import annotations

import json

import pytest
from petrosa_analytics.indicators import BadData, Book, spread

from .test_indicators_reference import approx

BOOK = Book(
    bids=((99.95, 1.0), (99.6, 2.0), (99.2, 4.0), (98.0, 10.0)),
    asks=((100.05, 2.0), (100.3, 1.0), (100.8, 5.0), (102.0, 10.0)),
)
NOTIONALS = (50.0, 1_000.0, 10_000.0)


def test_top_of_book_and_spread() -> None:
    result = spread(BOOK, notionals=NOTIONALS)
    assert result["best_bid"] == 99.95
    assert result["best_ask"] == 100.05
    assert result["mid"] == approx(100.0)
    assert result["bid_ask_spread"] == approx(0.1)
    assert result["spread_percentage"] == approx(0.1)
    assert result["imbalance"] == approx(-1 / 3)  # (1 - 2) / (1 + 2)


def test_depth_within_each_band_of_the_mid() -> None:
    result = spread(BOOK, notionals=NOTIONALS)
    bands = result["depth_bands"]
    assert list(bands) == ["0_1", "0_5", "1"]
    # 0.1 %: bids >= 99.9, asks <= 100.1
    assert bands["0_1"] == {
        "bid_base": 1.0,
        "bid_quote": approx(99.95),
        "ask_base": 2.0,
        "ask_quote": approx(200.1),
    }
    # 0.5 %: bids >= 99.5, asks <= 100.5
    assert bands["0_5"] == {
        "bid_base": 3.0,
        "bid_quote": approx(99.95 + 199.2),
        "ask_base": 3.0,
        "ask_quote": approx(200.1 + 100.3),
    }
    # 1 %: bids >= 99, asks <= 101
    assert bands["1"] == {
        "bid_base": 7.0,
        "bid_quote": approx(99.95 + 199.2 + 396.8),
        "ask_base": 8.0,
        "ask_quote": approx(200.1 + 100.3 + 504.0),
    }
    assert result["market_depth_bid"] == 7.0
    assert result["market_depth_ask"] == 8.0
    assert result["liquidity_ratio"] == approx(695.95 / 804.4)


def test_a_level_exactly_on_a_band_limit_is_inside() -> None:
    book = Book(bids=((99.5, 1.0),), asks=((100.5, 1.0),))  # mid 100: both on the 0.5 % limit
    bands = spread(book, bands=(0.5,))["depth_bands"]
    assert bands["0_5"]["bid_base"] == 1.0
    assert bands["0_5"]["ask_base"] == 1.0


def test_slippage_walks_the_book_against_the_mid() -> None:
    result = spread(BOOK, notionals=NOTIONALS)["slippage_estimate"]
    assert list(result) == ["50", "1000", "10000"]
    # 50 of quote fits in the best levels: paid 100.05, received 99.95 -> 5 bps each way.
    assert result["50"] == {"buy": approx(5.0), "sell": approx(5.0)}
    # Buying 1000: three ask levels (804.4) and 195.6 / 102 base of the fourth.
    bought = 2 + 1 + 5 + (1_000 - 804.4) / 102.0
    assert result["1000"]["buy"] == approx((1_000 / bought / 100 - 1) * 10_000)
    # Selling 1000: three bid levels (695.95) and 304.05 / 98 base of the fourth.
    sold = 1 + 2 + 4 + (1_000 - 695.95) / 98.0
    assert result["1000"]["sell"] == approx((1 - 1_000 / sold / 100) * 10_000)


def test_a_book_that_cannot_fill_a_notional_gives_none_not_a_partial_number() -> None:
    result = spread(BOOK, notionals=NOTIONALS)["slippage_estimate"]
    assert result["10000"] == {"buy": None, "sell": None}  # 1824.4 asks, 1675.95 bids


def test_an_empty_side_leaves_what_needs_a_mid_empty() -> None:
    result = spread(Book(bids=((99.0, 1.0),), asks=()), notionals=(100.0,), bands=(1.0,))
    assert result["best_bid"] == 99.0
    assert result["best_ask"] is None
    for name in (
        "mid",
        "bid_ask_spread",
        "spread_percentage",
        "market_depth_bid",
        "market_depth_ask",
        "liquidity_ratio",
        "imbalance",
    ):
        assert result[name] is None, name
    assert result["depth_bands"] == {
        "1": {"bid_base": None, "bid_quote": None, "ask_base": None, "ask_quote": None}
    }
    assert result["slippage_estimate"] == {"100": {"buy": None, "sell": None}}
    json.dumps(result, allow_nan=False)
    assert spread(Book(bids=(), asks=()))["best_bid"] is None


def test_no_ask_within_one_percent_gives_no_liquidity_ratio() -> None:
    result = spread(Book(bids=((90.0, 1.0),), asks=((110.0, 1.0),)))
    assert result["market_depth_ask"] == 0.0
    assert result["liquidity_ratio"] is None


def test_book_from_a_stored_depth_document() -> None:
    document = {
        "symbol": "BTCUSDT",
        "bids": [{"price": 99.95, "quantity": 1.0}, {"price": 99.6, "quantity": 0.0}],
        "asks": [{"price": 100.05, "quantity": 2}],
    }
    book = Book.from_document(document)
    assert book.bids == ((99.95, 1.0),)  # the level of quantity 0 is gone
    assert book.asks == ((100.05, 2.0),)


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        (((100.0, 1.0),), ((99.0, 1.0),), "crossed"),
        (((99.0, 1.0), (99.5, 1.0)), (), "decreasing"),
        ((), ((101.0, 1.0), (100.5, 1.0)), "increasing"),
        (((0.0, 1.0),), (), "price > 0"),
        (((99.0, -1.0),), (), "quantity >= 0"),
        (((float("nan"), 1.0),), (), "nan"),
    ],
)
def test_bad_books_are_refused(
    bids: tuple[tuple[float, float], ...], asks: tuple[tuple[float, float], ...], reason: str
) -> None:
    with pytest.raises(BadData, match=reason):
        Book(bids=bids, asks=asks)


def test_bad_documents_are_refused() -> None:
    with pytest.raises(BadData, match="no bids"):
        Book.from_document({"asks": []})
    with pytest.raises(BadData, match="price, quantity"):
        Book.from_document({"bids": [[99.0, 1.0]], "asks": []})
    with pytest.raises(BadData, match="not a number"):
        Book.from_document({"bids": [{"price": "99", "quantity": 1.0}], "asks": []})


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="notionals"):
        spread(BOOK, notionals=(0.0,))
    with pytest.raises(ValueError, match="bands"):
        spread(BOOK, bands=(-1.0,))
