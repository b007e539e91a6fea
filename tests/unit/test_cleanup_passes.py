"""The cleanup fault's passes: a failing pass is an error of the run, the seeding gives cleanup real work, and
the reference cleanup removes only what was planted as dead."""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest

from authchaos.sut.cleanup_passes import CleanupPasses, seed_reference_keyspace
from authchaos_reference.cleanup import RedisCleanupService
from authchaos_reference.config import load_settings
from authchaos_reference.metrics import Metrics
from authchaos_reference.redis_client import create_redis, memory_server
from authchaos_reference.redis_ops import RedisOperations


def test_a_failing_pass_stops_the_loop_and_is_raised() -> None:
    calls: list[int] = []

    def one() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("SCAN refused")

    passes = CleanupPasses(one, every_s=0.01).start()
    time.sleep(0.2)
    with pytest.raises(RuntimeError, match="cleanup pass 2 failed: SCAN refused"):
        passes.stop()
    assert len(calls) == 2  # nothing ran after the failure


def test_a_window_too_short_for_one_pass_is_an_error_not_a_pass() -> None:
    passes = CleanupPasses(lambda: time.sleep(0.3), every_s=0.01)
    passes._stop.set()  # stopped before the first pass could finish
    passes.start()
    with pytest.raises(RuntimeError, match="never completed a pass"):
        passes.stop()


def test_the_seeded_keyspace_loses_only_its_orphans_to_the_reference_cleanup() -> None:
    """Live keys whose TTL the seeding dropped get it back; the planted orphans go."""
    settings = load_settings(redis_url="memory://seed-test", refresh_ttl_s=60)
    redis = fakeredis.FakeRedis(server=memory_server("seed-test"))
    now_ms = int(time.time() * 1000)
    redis.hset("ac:fam:live", mapping={"sub": "user", "current": "t1", "prev": "", "rotated_at": now_ms - 2000})
    redis.expire("ac:fam:live", 60)
    redis.sadd("ac:userfams:user", "live")
    redis.set("ac:bl:live-token", "1", ex=30)
    seed_reference_keyspace(redis, refresh_ttl_s=60)
    assert redis.ttl("ac:fam:live") == -1 and redis.ttl("ac:bl:live-token") == -1  # the seeding dropped them

    async def clean() -> None:
        ops = RedisOperations(create_redis(settings), settings, Metrics())
        try:
            assert (await RedisCleanupService(ops, 60).run()).complete
        finally:
            await ops.aclose()

    asyncio.run(clean())
    assert 0 < redis.ttl("ac:fam:live") <= 60 and redis.ttl("ac:bl:live-token") > 0
    assert redis.smembers("ac:userfams:user") == {b"live"}
    assert not list(redis.scan_iter(match="ac:fam:orphan-*"))
    assert all(redis.ttl(k) > 0 for k in redis.scan_iter(match="ac:bl:orphan-*"))
