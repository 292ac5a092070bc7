"""Names of the frame kinds the simulator emits.

They equal Binance's event type names (``data.e``) and ``petrosa_common.events.EventType``
values; ``depth`` is a partial book snapshot, which carries no ``e`` on the wire.
"""

from __future__ import annotations

TRADE = "trade"
AGG_TRADE = "aggTrade"
KLINE = "kline"
DEPTH_UPDATE = "depthUpdate"
PARTIAL_DEPTH = "depth"
MARK_PRICE = "markPriceUpdate"
TICKER = "24hrTicker"
MINI_TICKER = "24hrMiniTicker"
MALFORMED = "malformed"

EVENT_KINDS: tuple[str, ...] = (
    TRADE,
    AGG_TRADE,
    KLINE,
    DEPTH_UPDATE,
    PARTIAL_DEPTH,
    MARK_PRICE,
    TICKER,
    MINI_TICKER,
)
"""Every kind of valid market frame (``MALFORMED`` is not one)."""
