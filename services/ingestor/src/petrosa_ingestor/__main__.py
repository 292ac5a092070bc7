"""Entry point of petrosa-ingestor: settings -> logging/metrics -> service."""

from __future__ import annotations

import asyncio

from petrosa_common.cli import command_line
from petrosa_common.logging import configure_logging
from petrosa_common.metrics import start_metrics_server

from petrosa_ingestor.service import SERVICE_NAME, run
from petrosa_ingestor.settings import IngestorSettings


def main() -> None:
    """Store the market data frames published on NATS in MongoDB until SIGTERM/SIGINT."""
    command_line(
        "petrosa-ingestor",
        description=main.__doc__ or "",
        distribution="petrosa-ingestor",
        settings=IngestorSettings,
    ).parse_args()
    settings = IngestorSettings()
    configure_logging(SERVICE_NAME, settings.log_level)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
