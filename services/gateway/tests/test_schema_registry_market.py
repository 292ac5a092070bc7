"""The bootstrapped market schemas describe what this system stores: simulator frames
ingested through the ingestor's write path, read back as the API shows them (JSON), and
every stored candle, trade, depth and funding document validated against its schema."""

from __future__ import annotations

import orjson
import pytest
from petrosa_devtools.infra import InfraUrls
from petrosa_gateway.registry.common_schemas import CANDLE, DEPTH, FUNDING, TRADE
from petrosa_gateway.registry.validation import effective_schema
from petrosa_gateway.schemas import validate_records
from petrosa_gateway.store.encoding import dumps

from .conftest import Gateway
from .seeding import ingest

pytestmark = pytest.mark.integration
FAMILIES = {"candles_": CANDLE, "trades_": TRADE, "depth_": DEPTH, "funding_rates_": FUNDING}


async def test_stored_market_documents_match_their_schemas(
    gateway: Gateway, infra_urls: InfraUrls, mongo_db_name: str
) -> None:
    collections = await ingest(
        infra_urls.mongodb_url, mongo_db_name, frames=4000, kline_frames=2000
    )
    checked: dict[str, int] = {}
    for collection in collections:
        common = next((s for p, s in FAMILIES.items() if collection.startswith(p)), None)
        if common is None:
            continue
        documents = await gateway.resources.db[collection].find({}).to_list()
        as_json = orjson.loads(dumps(documents))
        # Strict: no stored field is missing from the schema's properties either.
        strict = effective_schema(common.schema, strict=True, partial=False)
        report = validate_records(strict, as_json)
        assert report.all_valid, (collection, report.issues[:5])
        checked[common.name] = checked.get(common.name, 0) + report.total
    assert set(checked) == {"candle_v1", "trade_v1", "depth_v1", "funding_v1"}, checked
    assert min(checked.values()) > 0
