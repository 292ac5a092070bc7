"""Generic CRUD on MongoDB and PostgreSQL: one query language, two compilers, one protocol.

The language (:mod:`.language`) is parsed once into frozen nodes and compiled to a MongoDB
filter (:mod:`.to_mongo`) or to parameterised SQL (:mod:`.to_sql`). Both stores
(:class:`MongoStore`, :class:`PostgresStore`) implement :class:`Store` with the shared write
rules of :mod:`.writes` and answer the models of :mod:`.models`; every reply is encoded by
:mod:`.encoding`.
"""

from __future__ import annotations

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.resources import Resources
from petrosa_gateway.store.mongo import MongoStore
from petrosa_gateway.store.postgres import PostgresStore
from petrosa_gateway.store.writes import Store, StoreName

ALIASES: dict[str, StoreName] = {"mongodb": "mongodb", "postgres": "postgres", "mysql": "postgres"}
"""Database names clients send; ``mysql`` stays an alias of ``postgres`` for old clients."""


def store_for(database: str, resources: Resources) -> Store:
    """The store behind a database name; 400 for an unknown one."""
    name = ALIASES.get(database.lower())
    if name == "mongodb":
        return MongoStore(resources.db, max_time_ms=resources.settings.raw_query_timeout_ms)
    if name == "postgres":
        return PostgresStore(resources.pg)
    raise BadRequest(f"unknown database {database!r}: use mongodb, postgres (or its alias mysql)")


__all__ = ["ALIASES", "MongoStore", "PostgresStore", "Store", "StoreName", "store_for"]
