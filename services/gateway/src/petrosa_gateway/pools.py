"""Connection pool statistics (for /health/connections and the active-connections gauge)."""

from __future__ import annotations

from typing import Any

from petrosa_gateway.metrics import ACTIVE_CONNECTIONS
from petrosa_gateway.resources import Resources


def pool_statistics(resources: Resources) -> dict[str, Any]:
    """Live pool numbers of PostgreSQL, MongoDB and NATS."""
    pg = resources.pg.get_stats()
    mongo = resources.mongo_pool
    nats = resources.nats
    return {
        "postgres": {
            "pool_min": pg.get("pool_min", 0),
            "pool_max": pg.get("pool_max", 0),
            "pool_size": pg.get("pool_size", 0),
            "pool_available": pg.get("pool_available", 0),
            "in_use": pg.get("pool_size", 0) - pg.get("pool_available", 0),
            "requests_waiting": pg.get("requests_waiting", 0),
            "requests_total": pg.get("requests_num", 0),
            "connections_errors": pg.get("connections_errors", 0),
        },
        "mongodb": {
            "max_pool_size": resources.mongo.options.pool_options.max_pool_size,
            "open": mongo.open,
            "in_use": mongo.in_use,
            "idle": max(mongo.open - mongo.in_use, 0),
            "created_total": mongo.created_total,
            "checkout_failures": mongo.checkout_failures,
        },
        "nats": {
            "connected": bool(nats and nats.is_connected),
            "reconnects": nats.stats["reconnects"] if nats else 0,
            "in_msgs": nats.stats["in_msgs"] if nats else 0,
            "out_msgs": nats.stats["out_msgs"] if nats else 0,
        },
    }


def refresh_pool_gauges(resources: Resources) -> dict[str, Any]:
    """Update ``data_manager_active_connections`` from the pools; returns the statistics."""
    stats = pool_statistics(resources)
    pg, mongo = stats["postgres"], stats["mongodb"]
    for state in ("pool_size", "in_use", "pool_available", "requests_waiting"):
        ACTIVE_CONNECTIONS.labels("postgres", state.removeprefix("pool_")).set(pg[state])
    for state in ("open", "in_use", "idle"):
        ACTIVE_CONNECTIONS.labels("mongodb", state).set(mongo[state])
    ACTIVE_CONNECTIONS.labels("nats", "open").set(int(stats["nats"]["connected"]))
    return stats
