"""Test helpers around NATS streams and stored documents."""

from __future__ import annotations

from collections.abc import Iterable

import nats


async def publish(nats_url: str, subject: str, payloads: Iterable[bytes]) -> int:
    """Publish every payload on core NATS (a stream may capture the subject); returns count."""
    client = await nats.connect(nats_url)
    count = 0
    try:
        for payload in payloads:
            await client.publish(subject, payload)
            count += 1
            if count % 2000 == 0:
                await client.flush()
        await client.flush()
    finally:
        await client.close()
    return count


def natural_key(doc_id: object) -> int:
    """The int natural key inside a document ``_id`` (``123`` or ``"SYMBOL_123"``)."""
    if isinstance(doc_id, int):
        return doc_id
    assert isinstance(doc_id, str), doc_id
    return int(doc_id.rsplit("_", 1)[1])
