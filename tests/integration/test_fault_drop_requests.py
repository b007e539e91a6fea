"""``drop_requests``: a fault added as one class in harness/faults/model.py (the Extending example)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from pydantic import TypeAdapter

from authchaos.faults.embedded import EmbeddedNemesis
from authchaos.faults.fault_spec import DropRequests, Fault, FaultEvent
from authchaos.faults.nemesis import injected
from authchaos.faults.timeline import run_timeline
from authchaos.pytest_plugin import RedisProxy
from authchaos.record.windows import TimelineResult
from authchaos.servers.redis_server import RedisServer
from authchaos.sut.reference_service import memory_server


def test_it_parses_from_a_scenario_and_becomes_one_upstream_timeout_toxic() -> None:
    fault = TypeAdapter(Fault).validate_python({"kind": "drop_requests", "toxicity": 0.5})
    assert isinstance(fault, DropRequests)
    [toxic] = fault.toxics("ac1")
    assert (toxic.type, toxic.stream, toxic.attributes, toxic.toxicity) == ("timeout", "upstream", {"timeout": 0}, 0.5)


def test_the_embedded_backend_reports_it_skipped_by_name() -> None:
    nemesis = EmbeddedNemesis(memory_server("drop-requests-test"))
    result = TimelineResult()
    asyncio.run(
        run_timeline(nemesis, [FaultEvent(at_s=0, for_s=0.01, fault=DropRequests())], time.monotonic_ns(), result)
    )
    [window] = result.windows
    assert window.start_ns is None and window.skipped and "drop_requests" in window.skipped


@pytest.mark.integration
def test_on_real_toxiproxy_a_write_times_out_and_never_lands(redis_proxy: RedisProxy, fresh_redis: RedisServer) -> None:
    proxied = redis.Redis.from_url(redis_proxy.url, socket_timeout=0.3, socket_connect_timeout=0.3, retry=None)
    direct = redis.Redis.from_url(fresh_redis.url)
    proxied.ping()
    with injected(redis_proxy.nemesis, DropRequests()), pytest.raises(redis.TimeoutError):
        proxied.set("dropped", "1")
    assert direct.get("dropped") is None, "the command must never have reached Redis"
    proxied.close()
    assert redis_proxy.client.proxies()[redis_proxy.name]["toxics"] == []
