"""Real market data for gateway tests: simulator frames stored through the ingestor's path.

``parse_frame`` -> ``event_writes`` -> ``SeriesWriter``, batch by batch as the ingestor
does (the service itself is not imported: services do not import each other).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from petrosa_common.documents import WriteOp, event_writes
from petrosa_common.mongo import create_mongo_client
from petrosa_common.parser import MessageRejected, parse_frame
from petrosa_common.series_writer import SeriesWriter
from petrosa_sim.frames import FrameGenerator

SYMBOLS = ("BTCUSDT", "ETHUSDT")
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
FRAMES = 6_000
"""Every kind of frame: about 1.2 virtual minutes of both symbols."""
KLINE_FRAMES = 20_000
"""Kline frames only, from the same markets: about 13 minutes of candles."""
BATCH = 2_000


async def ingest(
    mongodb_url: str,
    database: str,
    *,
    symbols: Sequence[str] = SYMBOLS,
    frames: int = FRAMES,
    kline_frames: int = KLINE_FRAMES,
) -> list[str]:
    """Store simulated frames of ``symbols`` in ``database``; the collections written."""
    client = create_mongo_client(mongodb_url, app_name="gateway-test-seed")
    try:
        writer = SeriesWriter(client[database])
        stream = FrameGenerator(list(symbols), seed=11, start_ms=START_MS).take(frames)
        klines = FrameGenerator(list(symbols), seed=11, start_ms=START_MS, kinds={"kline"})
        stream += klines.take(kline_frames)
        written: set[str] = set()
        for start in range(0, len(stream), BATCH):
            batch: dict[str, dict[object, WriteOp]] = {}
            for frame in stream[start : start + BATCH]:
                try:
                    event = parse_frame(frame.payload)
                except MessageRejected:
                    continue
                for op in event_writes(event):
                    batch.setdefault(op.collection, {})[op.doc_id] = op
            for name, ops in batch.items():
                outcome = await writer.write(name, list(ops.values()), datetime.now(UTC))
                assert not outcome.refused, outcome
                written.add(name)
        return sorted(written)
    finally:
        await client.close()
