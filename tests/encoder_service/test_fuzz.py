"""A few hundred malformed requests (tests/fuzz_inputs.py) against a real encoder server:
each gets a status other than OK, INTERNAL and UNKNOWN, and the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos.mochat.v1 import encoder_pb2_grpc
from tests.encoder_service.conftest import encode_request, make_window, running_server
from tests.fuzz_inputs import encoder_requests
from tests.fuzz_run import call_all, unaccounted

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def test_malformed_requests_are_refused_with_a_client_error(tiny_model: Path) -> None:
    requests = encoder_requests(300, seed=0)
    async with running_server(tiny_model) as (_, channel):
        codes = await call_all(channel, requests)
        reply = await encoder_pb2_grpc.EncoderServiceStub(channel).Encode(
            encode_request(make_window(frames=16)))  # still serving
    assert not unaccounted(requests, codes), unaccounted(requests, codes)[:10]
    assert len(reply.features) == 1
