"""Entry point of petrosa-backfiller: settings -> logging/metrics -> service."""

from __future__ import annotations

import asyncio

from petrosa_common.cli import command_line
from petrosa_common.logging import configure_logging
from petrosa_common.metrics import start_metrics_server

from petrosa_backfiller.service import SERVICE_NAME, run
from petrosa_backfiller.settings import BackfillerSettings


def main() -> None:
    """Run backfill jobs (Binance REST -> MongoDB) and answer the backfill NATS API until
    SIGTERM/SIGINT."""
    command_line(
        "petrosa-backfiller",
        description=main.__doc__ or "",
        distribution="petrosa-backfiller",
        settings=BackfillerSettings,
    ).parse_args()
    settings = BackfillerSettings()
    configure_logging(SERVICE_NAME, settings.log_level)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
