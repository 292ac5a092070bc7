"""NATS request/reply: ``data_manager.backfill.request`` (→ the job),
``data_manager.backfill.jobs.get`` and ``data_manager.backfill.cancel``; job events on
``data_manager.backfill.events.<status>``. Replies carry :class:`BackfillJob`s, as the
gateway's ``/backfill/*`` does. Bad requests get an error reply, never silence, with the
gateway's codes (:class:`~petrosa_common.errors.ErrorCode`): ``bad_request`` (not JSON),
``invalid_parameter`` (a field breaks a rule), ``not_found`` (no such job), ``unavailable``
(the job store cannot be reached right now: try again)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from petrosa_common.backfill_jobs import (
    BackfillJob,
    BackfillRequest,
    JobReply,
    cancel_job,
    get_job,
    publish_job_event,
    submit,
)
from petrosa_common.errors import ErrorCode, ErrorReply, validation_reply
from petrosa_common.logging import get_logger
from petrosa_common.naming import (
    BACKFILL_CANCEL_SUBJECT,
    BACKFILL_JOBS_GET_SUBJECT,
    BACKFILL_REQUEST_SUBJECT,
)
from petrosa_common.nats import sync_with_server
from petrosa_common.postgres import PgPool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = get_logger(__name__)
QUEUE_GROUP = "data-manager-backfiller"
NOT_FOUND = ErrorReply(error=ErrorCode.NOT_FOUND, detail="no such backfill job")
Body = TypeVar("Body", bound=BaseModel)


class JobRef(BaseModel):
    """``{"id": N}``: a job id is a JSON integer in 64 bits (the gateway's rule for ids)."""

    model_config = ConfigDict(strict=True)

    id: int = Field(ge=-(2**63), lt=2**63)


async def _reply(msg: Msg, answer: BaseModel) -> None:
    if msg.reply:
        with contextlib.suppress(Exception):
            await msg.respond(answer.model_dump_json().encode())


async def _parse(msg: Msg, model: type[Body]) -> Body | None:
    """The request's body as ``model``; ``None`` once the error is replied (an empty body is a
    missing one, ``invalid_parameter``, as the gateway answers a POST without a body)."""
    try:
        return model.model_validate_json(msg.data or b"null")
    except ValidationError as exc:
        await _reply(msg, validation_reply(exc))
        return None


Handler = Callable[[Msg], Awaitable[None]]


def _answering(name: str, handler: Handler) -> Handler:
    """``handler``, replying ``unavailable`` instead of staying silent when it fails."""

    async def answer(msg: Msg) -> None:
        try:
            await handler(msg)
        except Exception as exc:  # e.g. PostgreSQL down: the caller must not wait in vain
            log.warning("backfill_request_failed", handler=name, error=str(exc))
            detail = f"the job store is unavailable: {exc}"
            await _reply(msg, ErrorReply(error=ErrorCode.UNAVAILABLE, detail=detail))

    return answer


async def serve(nc: NatsClient, pool: PgPool) -> None:
    """Subscribe the three subjects (queue group: replicas share the work)."""

    async def on_request(msg: Msg) -> None:
        if (request := await _parse(msg, BackfillRequest)) is None:
            return
        submission = await submit(pool, request)
        log.info(
            "backfill_requested",
            job_id=submission.job.id,
            created=[job.id for job in submission.created],
            requested_by=request.requested_by,
        )
        await _reply(msg, submission.answer())
        for job in submission.created:
            await publish_job_event(nc, job)

    async def on_get(msg: Msg) -> None:
        if (ref := await _parse(msg, JobRef)) is None:
            return
        job = await get_job(pool, ref.id)
        await _reply(msg, JobReply(job=job) if job else NOT_FOUND)

    async def on_cancel(msg: Msg) -> None:
        if (ref := await _parse(msg, JobRef)) is None:
            return
        outcome = await cancel_job(pool, ref.id)
        if outcome is None:
            await _reply(msg, NOT_FOUND)
            return
        job, cancelled_now = outcome
        await _reply(msg, JobReply(job=job))
        if cancelled_now:
            await publish_job_event(nc, job)

    handlers = {
        BACKFILL_REQUEST_SUBJECT: on_request,
        BACKFILL_JOBS_GET_SUBJECT: on_get,
        BACKFILL_CANCEL_SUBJECT: on_cancel,
    }
    for subject, handler in handlers.items():
        await nc.subscribe(subject, queue=QUEUE_GROUP, cb=_answering(subject, handler))
    await sync_with_server(nc)  # the server has registered them when this returns


def event_publisher(nc: NatsClient) -> Callable[[BackfillJob], Awaitable[None]]:
    """An ``on_event`` sink publishing ``data_manager.backfill.events.<status>``."""

    async def publish(job: BackfillJob) -> None:
        await publish_job_event(nc, job)

    return publish
