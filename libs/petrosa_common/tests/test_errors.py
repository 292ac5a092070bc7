"""The error vocabulary: a body that is not JSON is ``bad_request``, a JSON body that breaks a
rule is ``invalid_parameter`` with every reason on one line."""

from __future__ import annotations

import pytest
from petrosa_common.backfill_jobs import BackfillRequest
from petrosa_common.errors import ErrorCode, ErrorReply, validation_reply
from pydantic import ValidationError


def refusal(body: bytes) -> ErrorReply:
    with pytest.raises(ValidationError) as refused:
        BackfillRequest.model_validate_json(body)
    return validation_reply(refused.value)


@pytest.mark.parametrize("body", [b"not json", b'{"symbol": '])
def test_a_body_that_is_not_json_is_a_bad_request(body: bytes) -> None:
    reply = refusal(body)
    assert reply.error is ErrorCode.BAD_REQUEST
    assert reply.detail.startswith("malformed JSON body")


def test_a_json_body_breaking_rules_lists_every_reason_on_one_line() -> None:
    reply = refusal(b'{"symbol": "BTC-USDT", "timeframe": "1m", "end": "2024-01-01"}')
    assert reply.error is ErrorCode.INVALID_PARAMETER
    assert reply.detail == (
        "symbol: symbol must be a Binance symbol such as BTCUSDT; start: Field required"
    )
    assert reply.model_dump(mode="json") == {"error": "invalid_parameter", "detail": reply.detail}
