"""The one reply encoding: every value a store can answer, as the same JSON."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.store.encoding import dumps, utc_values
from petrosa_gateway.store.models import Pagination

OID = ObjectId("65a1b2c3d4e5f60718293a4b")
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (OID, "65a1b2c3d4e5f60718293a4b"),
        (Decimal("50100.5"), 50100.5),
        (Decimal128("1.25"), 1.25),
        (Decimal("NaN"), None),
        (Decimal128("NaN"), None),
        (Int64(7), 7),
        (REF, str(REF)),
        (Binary.from_uuid(REF), str(REF)),
        (b"\x00\x01\xff", "AAH/"),
        (memoryview(b"\x00\x01\xff"), "AAH/"),
        (Binary(b"\x00\x01\xff", 0), "AAH/"),
        (timedelta(minutes=1, seconds=30), 90.0),
        (frozenset({3}), [3]),
        (Regex("^BTC", "i"), "^BTC"),
        (re.compile("^ETH"), "^ETH"),
        (ipaddress.ip_address("10.0.0.1"), "10.0.0.1"),
        (date(2025, 1, 1), "2025-01-01"),
        (time(9, 30), "09:30:00"),
        (float("nan"), None),
        (datetime(2025, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC), "2025-01-01T12:00:00.250000Z"),
        (datetime(2025, 1, 1), "2025-01-01T00:00:00Z"),  # naive means UTC
        (datetime(2025, 1, 1, tzinfo=ZoneInfo("Etc/UTC")), "2025-01-01T00:00:00Z"),
    ],
    ids=repr,
)
def test_each_store_value_has_one_json_form(value: Any, expected: Any) -> None:
    assert orjson.loads(dumps({"v": value})) == {"v": expected}


def test_result_models_are_encoded_field_by_field() -> None:
    page = Pagination.of(total=3, limit=2, offset=0)
    payload = {"data": [{"_id": OID}], "pagination": page}
    assert orjson.loads(dumps(payload)) == {
        "data": [{"_id": str(OID)}],
        "pagination": {"total": 3, "limit": 2, "offset": 0, "page": 1, "pages": 2,
                       "has_next": True, "has_previous": False},
    }  # fmt: skip


def test_rows_in_another_time_zone_become_utc() -> None:
    sao_paulo = datetime(2025, 1, 3, 21, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    row = {
        "at": sao_paulo,
        "seen": [sao_paulo],
        "n": 1,
        "naive": datetime(2025, 1, 1),
        "opens": time(9, 30, tzinfo=timezone(timedelta(hours=-3))),
    }
    assert orjson.loads(dumps(utc_values(row))) == {
        "at": "2025-01-04T00:00:00Z",
        "seen": ["2025-01-04T00:00:00Z"],
        "n": 1,
        "naive": "2025-01-01T00:00:00Z",
        "opens": "09:30:00-03:00",
    }
    # Without the conversion the offset would leak into the reply.
    plus_two = datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert orjson.loads(dumps(plus_two)) == "2025-01-01T02:00:00+02:00"


def test_every_rest_reply_uses_the_encoding() -> None:
    response = FastJSONResponse({"_id": OID, "amount": Decimal("2.5")})
    assert orjson.loads(response.body) == {"_id": str(OID), "amount": 2.5}
