"""The batch pipeline: one fetcher feeding a bounded queue, ``workers`` tasks storing batches.

A worker that dies (a bug: every per-frame failure is handled by the processor) is logged with
its traceback and stops the pipeline at once with :class:`WorkerDied`, so the process exits and
its orchestrator restarts it; what the dead worker held is redelivered by JetStream after
``ack_wait`` (one more delivery towards ``INGEST_MAX_DELIVER``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from petrosa_common.logging import get_logger

from petrosa_ingestor.processor import BatchProcessor, Incoming

log = get_logger(__name__)


class WorkerDied(RuntimeError):
    """A batch worker raised; the ingestor must exit (and be restarted)."""


async def run_pipeline(
    batches: AsyncIterator[Sequence[Incoming]],
    processor: BatchProcessor,
    *,
    workers: int,
    keep_alive_every: float,
    stop: asyncio.Event,
    on_death: Callable[[str], None] = lambda _: None,
) -> None:
    """Store every batch until ``stop``; then finish what was fetched and return.

    Raises :class:`WorkerDied` (after ``on_death(reason)``) as soon as a worker fails.
    """
    queue: asyncio.Queue[Sequence[Incoming] | None] = asyncio.Queue(maxsize=workers)
    died = asyncio.Event()
    failures: list[str] = []

    async def work() -> None:
        try:
            while (batch := await queue.get()) is not None:
                await store(batch, processor, stop, keep_alive_every)
        except Exception as exc:
            log.exception("ingest_worker_died")
            failures.append(f"{type(exc).__name__}: {exc}")
            on_death(failures[0])
            died.set()
            stop.set()

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    try:
        await _feed(batches, queue, died)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()  # unsubscribes now, not whenever the generator is collected
        if died.is_set():
            for task in tasks:
                task.cancel()  # exit promptly; unsettled messages come back from JetStream
            await asyncio.gather(*tasks, return_exceptions=True)
        else:
            for _ in tasks:
                await queue.put(None)
            # Drain: in-flight and queued batches are finished before shutdown continues.
            await asyncio.gather(*tasks)
    if failures:
        raise WorkerDied(failures[0])


async def _feed(
    batches: AsyncIterator[Sequence[Incoming]],
    queue: asyncio.Queue[Sequence[Incoming] | None],
    died: asyncio.Event,
) -> None:
    """Move batches into the queue until the source ends or a worker dies."""
    death = asyncio.create_task(died.wait())
    try:
        while True:
            step = asyncio.ensure_future(_next_into(batches, queue))
            done, _ = await asyncio.wait({step, death}, return_when=asyncio.FIRST_COMPLETED)
            if death in done:
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                return
            if not step.result():
                return
    finally:
        death.cancel()


async def _next_into(
    batches: AsyncIterator[Sequence[Incoming]], queue: asyncio.Queue[Sequence[Incoming] | None]
) -> bool:
    try:
        batch = await anext(batches)
    except StopAsyncIteration:
        return False
    await queue.put(batch)
    return True


async def store(
    batch: Sequence[Incoming], processor: BatchProcessor, stop: asyncio.Event, keep_alive: float
) -> None:
    """Process ``batch`` until every message is settled; retried messages are kept alive
    (the broker must not redeliver them meanwhile) and handed back if shutdown comes first."""
    pending = list(batch)
    while pending:
        async with _kept_alive(pending, keep_alive):
            await processor.process(pending)
        pending = [message for message in pending if message.needs_retry]
        if pending and stop.is_set():
            log.warning("messages_given_back_on_shutdown", count=len(pending))
            for message in pending:
                with contextlib.suppress(Exception):
                    await message.give_back()
            return


@contextlib.asynccontextmanager
async def _kept_alive(messages: Sequence[Incoming], every: float) -> AsyncIterator[None]:
    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.keep_alive()

    task = asyncio.create_task(keep())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
