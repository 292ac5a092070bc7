"""Schema registry API: /schemas/* (docs/schemas.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from petrosa_gateway.deps import ReadAccess, ResourcesDep, WriteAccess
from petrosa_gateway.errors import BadRequest, NotFound
from petrosa_gateway.inputs import Offset
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.registry import Database, Registry, Status
from petrosa_gateway.registry.bootstrap import BootstrapItem, bootstrap, common_items
from petrosa_gateway.registry.common_schemas import common_name_for
from petrosa_gateway.registry.errors import breaking_change
from petrosa_gateway.registry.models import DatabaseName
from petrosa_gateway.registry.validation import validate
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import ERROR_RESPONSES, WRITE_RESPONSES
from petrosa_gateway.schemas import CompatibilityMode, CompatibilityResult
from petrosa_gateway.security import Scope, presented_key

router = APIRouter(prefix="/schemas", tags=["schemas"], responses=ERROR_RESPONSES)

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
SchemaName = Annotated[str, Path(pattern=NAME_PATTERN, description="e.g. candle_v1")]
Db = Annotated[DatabaseName, Path(description="mongodb or postgres (alias mysql)")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
BodyName = Annotated[str, Field(pattern=NAME_PATTERN)]


def get_registry(request: Request) -> Registry:
    """The registry (built by the app lifespan)."""
    registry: Registry = request.app.state.schema_registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


class RegisterBody(BaseModel):
    schema_: Any = Field(alias="schema", description="A JSON Schema (2020-12 unless $schema)")
    description: str | None = Field(None, max_length=2000)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    compatibility: CompatibilityMode | None = Field(
        None, description="Check this registration under this mode instead of the schema's"
    )


class UpdateBody(BaseModel):
    schema_: Any = Field(None, alias="schema")
    description: str | None = Field(None, max_length=2000)
    status: Literal["active", "deprecated"] | None = None


class ValidateBody(BaseModel):
    database: DatabaseName
    schema_name: BodyName
    data: dict[str, Any] | list[Any]
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class CompatibilityBody(BaseModel):
    database: DatabaseName
    schema_name: BodyName
    old_version: int | None = Field(None, ge=1, le=2**31 - 1)
    new_version: int | None = Field(None, ge=1, le=2**31 - 1)
    schema_: Any = Field(None, alias="schema", description="A candidate schema")
    mode: CompatibilityMode | None = None
    verbose: bool = False


class ConfigBody(BaseModel):
    compatibility: CompatibilityMode


class BootstrapSchema(BaseModel):
    name: BodyName | None = None
    database: DatabaseName | None = None
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    schema_: Any = Field(alias="schema")
    description: str | None = Field(None, max_length=2000)


class BootstrapBody(BaseModel):
    database: DatabaseName | None = None
    schemas: list[BootstrapSchema] | None = Field(None, max_length=500)
    overwrite_existing: bool = False


def _db(name: str) -> Database:
    return Database.of(name)


# Fixed paths first: /schemas/cache/stats must not be read as database "cache".


@router.get("/cache/stats", dependencies=[ReadAccess])
async def cache_stats(registry: RegistryDep) -> dict[str, Any]:
    """Size, TTL, hits, misses, hit rate, evictions, invalidations of this gateway's cache."""
    stats = registry.service.cache.stats()
    return {**stats, "invalidations_received": registry.invalidation.received}


@router.post("/cache/clear", dependencies=[WriteAccess], responses=WRITE_RESPONSES)
async def cache_clear(registry: RegistryDep) -> dict[str, Any]:
    """Empty the cache here and (over NATS) in every other gateway."""
    return {"cleared": await registry.service.clear_cache()}


@router.get("", dependencies=[ReadAccess])
async def list_schemas(
    registry: RegistryDep,
    database: Annotated[DatabaseName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> dict[str, Any]:
    """Every schema (of one database with ``?database=``): its latest version, paginated."""
    found = await registry.service.summaries(_db(database) if database else None)
    return _page(found, limit, offset)


@router.get("/search", dependencies=[ReadAccess])
async def search(
    registry: RegistryDep,
    query: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")],
    database: Annotated[DatabaseName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> dict[str, Any]:
    """Schemas whose name or description contains ``query`` (any case)."""
    found = await registry.service.summaries(_db(database) if database else None, search=query)
    return {**_page(found, limit, offset), "query": query}


@router.post("/validate", dependencies=[ReadAccess])
async def validate_data(body: ValidateBody, registry: RegistryDep) -> dict[str, Any]:
    """Validate one record or a list: every error of every record with index and JSON path."""
    records = body.data if isinstance(body.data, list) else [body.data]
    return await validate(
        registry.service,
        registry.policy,
        database=_db(body.database),
        name=body.schema_name,
        records=records,
        version=body.version,
    )


@router.post("/compatibility", dependencies=[ReadAccess])
async def compatibility(
    body: CompatibilityBody,
    registry: RegistryDep,
    verbose: Annotated[bool, Query(description="every breaking change in words")] = False,
) -> dict[str, Any]:
    """Versions ``old_version`` -> ``new_version``, or a candidate ``schema`` against the
    versions its mode names; ``mode`` overrides the schema's."""
    db, service = _db(body.database), registry.service
    answer: dict[str, Any] = {"database": db.value, "schema_name": body.schema_name}
    if body.schema_ is not None:
        result = await service.compatibility(
            db, body.schema_name, schema=body.schema_, mode=body.mode
        )
    elif body.new_version is not None:
        old = body.old_version if body.old_version is not None else body.new_version - 1
        result = await service.compare_versions(
            db, body.schema_name, old, body.new_version, body.mode
        )
        answer |= {"old_version": old, "new_version": body.new_version}
    else:
        raise BadRequest("give either schema, or new_version (and old_version)")
    return answer | _verdict(result, verbose=verbose or body.verbose)


@router.post("/bootstrap", dependencies=[WriteAccess], responses=WRITE_RESPONSES)
async def bootstrap_schemas(
    registry: RegistryDep, body: Annotated[BootstrapBody | None, Body()] = None
) -> dict[str, Any]:
    """The eight common schemas (no body, or no ``schemas``), or the body's."""
    body = body or BootstrapBody()
    default_db = _db(body.database) if body.database else None
    if body.schemas is None:
        items = common_items(default_db)
    else:
        items = [_bootstrap_item(s, default_db, i) for i, s in enumerate(body.schemas)]
    results = await bootstrap(registry.service, items, overwrite=body.overwrite_existing)
    counts = {
        a: sum(r["action"] == a for r in results)
        for a in ("created", "unchanged", "skipped", "overwritten")
    }
    return {"results": results, **counts}


@router.get("/config/{database}/{name}", dependencies=[ReadAccess])
async def get_config(database: Db, name: SchemaName, registry: RegistryDep) -> dict[str, Any]:
    """The compatibility mode the schema is held to (its own or the default)."""
    config = await registry.service.config(_db(database), name)
    return _config(config.database, name, config.compatibility, default=config.is_default)


@router.put("/config/{database}/{name}", dependencies=[WriteAccess], responses=WRITE_RESPONSES)
async def put_config(
    database: Db, name: SchemaName, body: ConfigBody, registry: RegistryDep
) -> dict[str, Any]:
    """Hold the schema to ``compatibility`` from now on."""
    config = await registry.service.set_mode(_db(database), name, body.compatibility)
    return _config(config.database, name, config.compatibility, default=False)


@router.post(
    "/{database}/{name}",
    status_code=201,
    dependencies=[WriteAccess],
    responses={**WRITE_RESPONSES, 200: {"description": "Identical schema: existing version"}},
)
async def register(
    database: Db, name: SchemaName, body: RegisterBody, registry: RegistryDep
) -> Any:
    """Register the next version (201), or return the identical one already there (200)."""
    entry, created = await registry.service.register(
        _db(database),
        name,
        body.schema_,
        description=body.description,
        version=body.version,
        mode=body.compatibility,
    )
    return FastJSONResponse(
        {**entry.public(), "created": created}, status_code=201 if created else 200
    )


@router.get("/{database}/{name}", dependencies=[ReadAccess])
async def latest(database: Db, name: SchemaName, registry: RegistryDep) -> dict[str, Any]:
    """The latest version (newest active, else newest deprecated)."""
    return (await registry.service.get(_db(database), name, None)).public()


@router.get("/{database}/{name}/versions", dependencies=[ReadAccess])
async def versions(
    database: Db,
    name: SchemaName,
    registry: RegistryDep,
    include_deleted: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """Every version, newest first (soft-deleted ones with ``include_deleted=true``)."""
    found = await registry.service.versions(_db(database), name, include_deleted=include_deleted)
    if not found:
        raise_not_found(database, name)
    return {
        "database": _db(database).value,
        "name": name,
        "versions": [e.version for e in found],
        "data": [e.public() for e in found],
    }


@router.get("/{database}/{name}/versions/{version}", dependencies=[ReadAccess])
async def get_version(
    database: Db,
    name: SchemaName,
    version: Version,
    registry: RegistryDep,
    include_deleted: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """One version (a soft-deleted one only with ``include_deleted=true``)."""
    found = await registry.service.get(
        _db(database), name, version, include_deleted=include_deleted
    )
    return found.public()


@router.put(
    "/{database}/{name}/versions/{version}", dependencies=[WriteAccess], responses=WRITE_RESPONSES
)
async def update_version(
    database: Db, name: SchemaName, version: Version, body: UpdateBody, registry: RegistryDep
) -> dict[str, Any]:
    """Change a version's schema (held to the mode: 409 with every breaking change),
    description or status."""
    status = Status(body.status) if body.status else None
    updated = await registry.service.update(
        _db(database),
        name,
        version,
        schema=body.schema_,
        description=body.description,
        status=status,
    )
    return updated.public()


@router.post(
    "/{database}/{name}/versions/{version}/deprecate",
    dependencies=[WriteAccess],
    responses=WRITE_RESPONSES,
)
async def deprecate(
    database: Db, name: SchemaName, version: Version, registry: RegistryDep
) -> dict[str, Any]:
    """Mark a version deprecated (still readable and used until a newer one is active)."""
    updated = await registry.service.update(_db(database), name, version, status=Status.DEPRECATED)
    return updated.public()


def _permanent_needs_admin(
    request: Request,
    resources: ResourcesDep,
    permanent: Annotated[bool, Query(description="hard delete (admin; soft delete first)")] = False,
) -> bool:
    if permanent:
        key = presented_key(request.headers.get("X-API-Key"), request.headers.get("Authorization"))
        resources.keys.require(key, Scope.ADMIN)
    return permanent


@router.delete(
    "/{database}/{name}/versions/{version}", dependencies=[WriteAccess], responses=WRITE_RESPONSES
)
async def delete_version(
    database: Db,
    name: SchemaName,
    version: Version,
    registry: RegistryDep,
    permanent: Annotated[bool, Depends(_permanent_needs_admin)],
) -> dict[str, Any]:
    """Soft delete (status ``deleted``); ``?permanent=true`` (admin) removes a soft-deleted
    version for good."""
    entry = await registry.service.delete(_db(database), name, version, permanent=permanent)
    return {
        "database": entry.database.value,
        "name": name,
        "version": version,
        "status": "removed" if permanent else Status.DELETED.value,
        "permanent": permanent,
    }


def raise_not_found(database: str, name: str) -> None:
    """404 for an unknown schema."""
    raise NotFound(f"no schema {name!r} in {_db(database).value}")


def _page(found: list[Any], limit: int, offset: int) -> dict[str, Any]:
    return {
        "data": [s.public() for s in found[offset : offset + limit]],
        "pagination": Pagination.of(total=len(found), limit=limit, offset=offset),
    }


def _verdict(result: CompatibilityResult, *, verbose: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "is_compatible": result.is_compatible,
        "mode": result.mode.value,
        "compared_with": sorted({c.version for c in result.comparisons}, reverse=True),
    }
    if verbose:
        answer["breaking_changes"] = [breaking_change(b) for b in result.breaking]
        answer["messages"] = list(result.messages)
    return answer


def _config(db: Database, name: str, mode: CompatibilityMode, *, default: bool) -> dict[str, Any]:
    return {"database": db.value, "name": name, "compatibility": mode.value, "is_default": default}


def _bootstrap_item(
    item: BootstrapSchema, default_db: Database | None, index: int
) -> BootstrapItem:
    title = item.schema_.get("title") if isinstance(item.schema_, dict) else None
    name = item.name or common_name_for(item.description) or title
    if not isinstance(name, str) or not name:
        raise BadRequest(
            f"schemas[{index}]: give a name (or a title in the schema, or a common schema's "
            "description)"
        )
    database = _db(item.database) if item.database else default_db
    if database is None:
        raise BadRequest(f"schemas[{index}]: give database (in the item or the body)")
    return BootstrapItem(database, name, item.schema_, item.description, item.version)
