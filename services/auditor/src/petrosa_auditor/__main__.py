"""Entry point of petrosa-auditor: settings -> logging/metrics -> service."""

from __future__ import annotations

import asyncio
import sys

from petrosa_common.cli import command_line
from petrosa_common.logging import configure_logging
from petrosa_common.metrics import start_metrics_server

from petrosa_auditor.service import SERVICE_NAME, run
from petrosa_auditor.settings import AuditorSettings


def main() -> None:
    """Run the auditor until SIGTERM/SIGINT (``--once``: one cycle as leader, then exit)."""
    parser = command_line(
        "petrosa-auditor",
        description=main.__doc__ or "",
        distribution="petrosa-auditor",
        settings=AuditorSettings,
    )
    parser.add_argument("--once", action="store_true", help="run one audit cycle and exit")
    args = parser.parse_args()
    settings = AuditorSettings()
    configure_logging(SERVICE_NAME, settings.log_level)
    if not args.once:
        start_metrics_server(settings.metrics_port)
    sys.exit(asyncio.run(run(settings, once=args.once)))


if __name__ == "__main__":
    main()
