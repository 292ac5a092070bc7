"""OpenLineage ``RunEvent``\\s (START, COMPLETE, FAIL) of the runs that move data.

Off by default. ``OPENLINEAGE_URL`` sends each event over HTTP with the ``openlineage-python``
client (POST ``{url}/{OPENLINEAGE_ENDPOINT}``, default ``api/v1/lineage``, Marquez's API);
``OPENLINEAGE_NATS_SUBJECT`` publishes its JSON on that subject (through the service's NATS
connection when it hands one over, else one the emitter opens on ``OPENLINEAGE_NATS_URL``,
default ``NATS_URL``). Both may be set. Emitting is best effort: a lineage backend that is
down is logged, never allowed to fail the run it describes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import nats
from nats.aio.client import Client as NatsClient
from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from petrosa_common.logging import get_logger

log = get_logger(__name__)
PRODUCER = "https://github.com/petrosa/petrosa-data-manager"
Publish = Callable[[str, bytes], Awaitable[None]]


class OpenLineageSettings(BaseSettings):
    """Where RunEvents go (nowhere unless a URL or a subject is set)."""

    model_config = SettingsConfigDict(env_prefix="OPENLINEAGE_", extra="ignore")

    url: str | None = Field(None, description="HTTP lineage backend, e.g. http://marquez:5000")
    endpoint: str = Field("api/v1/lineage", description="path of the HTTP endpoint")
    timeout_seconds: float = Field(5.0, gt=0, description="HTTP timeout")
    nats_subject: str | None = Field(None, description="NATS subject for the event JSON")
    nats_url: str = Field(
        "nats://localhost:4222",
        validation_alias=AliasChoices("OPENLINEAGE_NATS_URL", "NATS_URL"),
        description="NATS server when the service hands over no connection",
    )
    namespace: str = Field("petrosa-data-manager", description="namespace of jobs and datasets")

    @property
    def enabled(self) -> bool:
        """Whether any destination is configured."""
        return bool(self.url or self.nats_subject)


def run_id_for(name: str) -> str:
    """A stable run id (UUID) for a named run, e.g. ``backfill-job-42``: every worker that
    resumes the job reports the same run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PRODUCER}/{name}"))


class RunEmitter:
    """Emits a run's START, then COMPLETE or FAIL, to the configured destinations."""

    def __init__(self, settings: OpenLineageSettings, *, publish: Publish | None = None) -> None:
        self.settings = settings
        self._publish = publish
        self._nats: NatsClient | None = None
        self._http: OpenLineageClient | None = None
        if settings.url:
            config = HttpConfig(
                url=settings.url, endpoint=settings.endpoint, timeout=settings.timeout_seconds
            )
            self._http = OpenLineageClient(transport=HttpTransport(config))

    @classmethod
    def from_env(cls, *, publish: Publish | None = None) -> RunEmitter:
        """An emitter configured by the ``OPENLINEAGE_*`` environment (off when unset)."""
        return cls(OpenLineageSettings(), publish=publish)

    @property
    def enabled(self) -> bool:
        """Whether events go anywhere."""
        return self.settings.enabled

    def event(
        self,
        state: RunState,
        *,
        run_id: str,
        job: str,
        inputs: Sequence[tuple[str, str]] = (),
        outputs: Sequence[str] = (),
        error: str | None = None,
    ) -> RunEvent:
        """The RunEvent: ``inputs`` as ``(namespace, name)``, ``outputs`` dataset ids (in
        this emitter's namespace)."""
        namespace = self.settings.namespace
        facets = {}
        if error is not None:
            facets["errorMessage"] = ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            )
        return RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id, facets=facets),  # type: ignore[arg-type]
            job=Job(namespace=namespace, name=job),
            inputs=[InputDataset(namespace=ns, name=name) for ns, name in inputs],
            outputs=[OutputDataset(namespace=namespace, name=name) for name in outputs],
            producer=PRODUCER,
        )

    async def emit(
        self,
        state: RunState,
        *,
        run_id: str,
        job: str,
        inputs: Sequence[tuple[str, str]] = (),
        outputs: Sequence[str] = (),
        error: str | None = None,
    ) -> None:
        """Send one RunEvent (no-op when off; failures are logged, never raised)."""
        if not self.enabled:
            return
        event = self.event(
            state, run_id=run_id, job=job, inputs=inputs, outputs=outputs, error=error
        )
        try:
            if self._http is not None:
                await asyncio.to_thread(self._http.emit, event)
            if self.settings.nats_subject:
                await self._send_nats(self.settings.nats_subject, Serde.to_json(event).encode())
        except Exception as exc:  # lineage is an observer: it never fails the run
            log.warning("openlineage_emit_failed", job=job, state=state.value, error=str(exc))

    async def _send_nats(self, subject: str, payload: bytes) -> None:
        if self._publish is not None:
            await self._publish(subject, payload)
            return
        if self._nats is None or self._nats.is_closed:
            self._nats = await nats.connect(self.settings.nats_url, name="petrosa-openlineage")
        await self._nats.publish(subject, payload)
        await self._nats.flush()

    async def close(self) -> None:
        """Close the emitter's own NATS connection, if it opened one."""
        if self._nats is not None and not self._nats.is_closed:
            await self._nats.drain()


__all__ = ["OpenLineageSettings", "RunEmitter", "RunState", "run_id_for"]
