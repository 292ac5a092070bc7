"""``sync_with_server`` against a real NATS server: a subscription made on one connection is
live for a request from another one as soon as it returns."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg
from petrosa_common.nats import connect_nats, sync_with_server

pytestmark = pytest.mark.integration


async def test_subscriptions_are_live_once_synced(nats_url: str) -> None:
    # With a bare ``flush()`` about 1 round in 100 got "no responders" here (nats-py 2.16).
    caller = await connect_nats(nats_url, name="test-sync-caller")
    try:
        for round_no in range(300):
            server = await connect_nats(nats_url, name="test-sync-server")

            async def answer(msg: Msg) -> None:
                await msg.respond(msg.data)

            try:
                for subject in ("t.sync.a", "t.sync.b", "t.sync.c"):
                    await server.subscribe(subject, queue="t-sync", cb=answer)
                await sync_with_server(server)
                reply = await caller.request("t.sync.b", str(round_no).encode(), timeout=5)
                assert reply.data == str(round_no).encode()
            finally:
                await server.drain()
    finally:
        await caller.drain()
