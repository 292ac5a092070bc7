"""Market simulator: realistic Binance USD-M futures websocket frames, published to NATS.

>>> from petrosa_sim import FrameGenerator, FaultConfig, expected_counts
>>> gen = FrameGenerator(["BTCUSDT"], seed=1, start_ms=1_700_000_000_000)
>>> frames = gen.take(1_000)
>>> counts = expected_counts(frames)  # distinct documents per collection a consumer must store
"""

from petrosa_sim.faults import MALFORMED_REASONS, NO_FAULTS, FaultConfig, GapWindow
from petrosa_sim.frames import Frame, FrameGenerator, trade_rate_for
from petrosa_sim.kinds import EVENT_KINDS
from petrosa_sim.publisher import PublishStats, publish
from petrosa_sim.truth import documents, expected_counts, expected_documents

__all__ = [
    "EVENT_KINDS",
    "MALFORMED_REASONS",
    "NO_FAULTS",
    "FaultConfig",
    "Frame",
    "FrameGenerator",
    "GapWindow",
    "PublishStats",
    "documents",
    "expected_counts",
    "expected_documents",
    "publish",
    "trade_rate_for",
]
