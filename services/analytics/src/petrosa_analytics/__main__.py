"""Entry point of petrosa-analytics: settings -> logging/metrics -> service."""

from __future__ import annotations

import asyncio
import sys

from petrosa_common.cli import command_line
from petrosa_common.logging import configure_logging
from petrosa_common.metrics import start_metrics_server

from petrosa_analytics.service import SERVICE_NAME, run
from petrosa_analytics.settings import AnalyticsSettings


def main() -> None:
    """Compute market analytics every ANALYTICS_INTERVAL as the elected leader, and answer
    on-demand requests on data_manager.analytics.compute, until SIGTERM/SIGINT. Settings come
    from the environment (see docs/analytics.md)."""
    parser = command_line(
        "petrosa-analytics",
        description=main.__doc__ or "",
        distribution="petrosa-analytics",
        settings=AnalyticsSettings,
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="run one cycle as leader (waiting for the lease), then exit 0 on success",
    )
    args = parser.parse_args()
    settings = AnalyticsSettings()
    configure_logging(SERVICE_NAME, settings.log_level)
    if not args.once:
        start_metrics_server(settings.metrics_port)
    sys.exit(asyncio.run(run(settings, once=args.once)))


if __name__ == "__main__":
    main()
