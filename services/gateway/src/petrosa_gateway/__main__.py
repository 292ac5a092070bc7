"""Entry point of petrosa-gateway: settings -> logging/metrics -> app -> uvicorn."""

from __future__ import annotations

import uvicorn
from petrosa_common.cli import command_line
from petrosa_common.logging import configure_logging
from petrosa_common.metrics import start_metrics_server

from petrosa_gateway.app import SERVICE_NAME, create_app
from petrosa_gateway.settings import GatewaySettings


def main() -> None:
    """Serve the REST API (and the NATS queries) until SIGTERM/SIGINT."""
    command_line(
        "petrosa-gateway",
        description=main.__doc__ or "",
        distribution="petrosa-gateway",
        settings=GatewaySettings,
    ).parse_args()
    settings = GatewaySettings()
    configure_logging(SERVICE_NAME, settings.log_level)
    if settings.metrics_port and settings.metrics_port != settings.api_port:
        start_metrics_server(settings.metrics_port)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
