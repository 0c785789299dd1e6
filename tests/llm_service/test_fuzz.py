"""A few hundred malformed requests (tests/fuzz_inputs.py) against a real LLM server:
each gets a status other than OK, INTERNAL and UNKNOWN; none reaches the model."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.fuzz_inputs import llm_requests
from tests.fuzz_run import call_all, unaccounted
from tests.llm_service.conftest import GatedPipeline, running_server

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def test_malformed_requests_are_refused_with_a_client_error(
        gated: GatedPipeline, tiny_checkpoint: Path) -> None:
    requests = llm_requests(300, seed=0)
    async with running_server(gated, tiny_checkpoint) as (server, _), \
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        codes = await call_all(channel, requests)
    assert not unaccounted(requests, codes), unaccounted(requests, codes)[:10]
    assert not gated.calls  # nothing was answered by the model
