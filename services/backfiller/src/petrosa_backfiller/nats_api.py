"""NATS request/reply: ``data_manager.backfill.request`` (→ the job),
``data_manager.backfill.jobs.get`` and ``data_manager.backfill.cancel``; job events on
``data_manager.backfill.events.<status>``. Bad requests get an error reply, never silence:
``invalid_request`` (the body), ``not_found`` (no such job), ``unavailable`` (the job store
cannot be reached right now: try again)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from petrosa_common.backfill_jobs import (
    BackfillRequest,
    Job,
    JobStatus,
    cancel_job,
    get_job,
    job_view,
    publish_job_event,
    submit,
)
from petrosa_common.logging import get_logger
from petrosa_common.naming import (
    BACKFILL_CANCEL_SUBJECT,
    BACKFILL_JOBS_GET_SUBJECT,
    BACKFILL_REQUEST_SUBJECT,
)
from petrosa_common.nats import json_bytes, sync_with_server
from petrosa_common.postgres import PgPool
from pydantic import ValidationError

log = get_logger(__name__)
QUEUE_GROUP = "data-manager-backfiller"


async def _reply(msg: Msg, payload: dict[str, Any]) -> None:
    if msg.reply:
        with contextlib.suppress(Exception):
            await msg.respond(json_bytes(payload))


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"error": code, "detail": detail}


def _job_id(msg: Msg) -> int:
    body = orjson.loads(msg.data)
    job_id = body.get("id") if isinstance(body, dict) else None
    # Job ids are PostgreSQL bigints: anything else names no job and must not reach the query.
    if type(job_id) is not int or not 0 < job_id < 2**63:
        raise ValueError('expected {"id": <job id>}, a positive 64-bit integer')
    return job_id


Handler = Callable[[Msg], Awaitable[None]]


def _answering(name: str, handler: Handler) -> Handler:
    """``handler``, replying ``unavailable`` instead of staying silent when it fails."""

    async def answer(msg: Msg) -> None:
        try:
            await handler(msg)
        except Exception as exc:  # e.g. PostgreSQL down: the caller must not wait in vain
            log.warning("backfill_request_failed", handler=name, error=str(exc))
            await _reply(msg, _error("unavailable", f"the job store is unavailable: {exc}"))

    return answer


async def serve(nc: NatsClient, pool: PgPool) -> None:
    """Subscribe the three subjects (queue group: replicas share the work)."""

    async def on_request(msg: Msg) -> None:
        try:
            request = BackfillRequest.model_validate_json(msg.data)
        except ValidationError as exc:
            await _reply(msg, _error("invalid_request", str(exc)))
            return
        submission = await submit(pool, request)
        log.info(
            "backfill_requested",
            job_id=submission.job["id"],
            created=[job["id"] for job in submission.created],
            requested_by=request.requested_by,
        )
        await _reply(
            msg,
            {
                "job": job_view(submission.job),
                "created": bool(submission.created),
                "jobs": [job_view(job) for job in submission.jobs],
            },
        )
        for job in submission.created:
            await publish_job_event(nc, JobStatus.PENDING, job)

    async def on_get(msg: Msg) -> None:
        try:
            job = await get_job(pool, _job_id(msg))
        except (ValueError, orjson.JSONDecodeError) as exc:
            await _reply(msg, _error("invalid_request", str(exc)))
            return
        await _reply(msg, {"job": job_view(job)} if job else _error("not_found", "no such job"))

    async def on_cancel(msg: Msg) -> None:
        try:
            job_id = _job_id(msg)
        except (ValueError, orjson.JSONDecodeError) as exc:
            await _reply(msg, _error("invalid_request", str(exc)))
            return
        outcome = await cancel_job(pool, job_id)
        if outcome is None:
            await _reply(msg, _error("not_found", "no such job"))
            return
        job, cancelled_now = outcome
        await _reply(msg, {"job": job_view(job)})
        if cancelled_now:
            await publish_job_event(nc, JobStatus.CANCELLED, job)

    handlers = {
        BACKFILL_REQUEST_SUBJECT: on_request,
        BACKFILL_JOBS_GET_SUBJECT: on_get,
        BACKFILL_CANCEL_SUBJECT: on_cancel,
    }
    for subject, handler in handlers.items():
        await nc.subscribe(subject, queue=QUEUE_GROUP, cb=_answering(subject, handler))
    await sync_with_server(nc)  # the server has registered them when this returns


def event_publisher(nc: NatsClient) -> Callable[[str, Job], Awaitable[None]]:
    """An ``on_event`` sink publishing ``data_manager.backfill.events.<status>``."""

    async def publish(status: str, job: Job) -> None:
        await publish_job_event(nc, status, job)

    return publish
