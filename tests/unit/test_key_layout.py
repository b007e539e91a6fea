"""Key layout: the plain one is byte for byte the old one; the tagged one puts each user in one slot."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from authchaos_reference import token_store as ts
from authchaos_reference.config import ConfigError
from authchaos_reference.redis_client import create_redis, is_cluster_url
from authchaos_reference.services import store_layout
from tests.support import make_settings


def test_plain_layout_is_the_legacy_layout() -> None:
    k = ts.KeyLayout()
    assert k.fam("f1", "alice") == ts.fam_key("f1") == "ac:fam:f1"
    assert k.famrev("f1", "alice") == ts.famrev_key("f1")
    assert k.bl("t1", "alice") == ts.bl_key("t1")
    assert k.userfams("alice") == ts.userfams_key("alice")
    assert k.legacy("fp", "alice") == ts.legacy_key("fp")
    assert k.userrev("alice") == ts.userrev_key("alice")
    assert k.usercache("alice") == ts.usercache_key("alice")
    assert k.prefix("alice") == ts.P


@pytest.mark.parametrize("sub", ["alice", "", "we{ird}", "}x{", "ünï"])
def test_tagged_layout_keeps_every_key_of_a_user_in_one_slot(sub: str) -> None:
    k = ts.KeyLayout(tagged=True)
    keys = [
        k.fam("f1", sub),
        k.famrev("f2", sub),
        k.bl("t", sub),
        k.userfams(sub),
        k.legacy("fp", sub),
        k.userrev(sub),
        k.usercache(sub),
        k.prefix(sub) + "famrev:" + "f3",
    ]
    assert len({key_slot(key.encode()) for key in keys}) == 1


def test_cluster_urls_get_the_tagged_layout() -> None:
    assert store_layout(make_settings(redis_url="redis+cluster://127.0.0.1:7000")).tagged
    assert not store_layout(make_settings(redis_url="redis+sentinel://127.0.0.1:26379/m/0")).tagged
    assert not store_layout(make_settings(redis_url="redis://127.0.0.1:6379/0")).tagged
    assert is_cluster_url("redis+cluster://h:1,h:2") and not is_cluster_url("redis://h:1")


async def test_sentinel_and_cluster_urls_build_redis_pys_own_clients() -> None:
    sentinel = create_redis(make_settings(redis_url="redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/mymaster/3"))
    assert isinstance(sentinel, Redis)
    kwargs = sentinel.connection_pool.connection_kwargs
    assert kwargs["db"] == 3 and kwargs["password"] == "pw"
    assert sentinel.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]
    cluster = create_redis(make_settings(redis_url="redis+cluster://127.0.0.1:1,127.0.0.1:2"))
    assert isinstance(cluster, RedisCluster)
    assert sorted(int(n.port) for n in cluster.nodes_manager.startup_nodes.values()) == [1, 2]
    await sentinel.aclose()
    await cluster.aclose()


@pytest.mark.parametrize("url", ["redis+sentinel://127.0.0.1:1", "redis+cluster://", "redis+cluster://nohostport"])
def test_bad_topology_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        create_redis(make_settings(redis_url=url))


def test_topology_urls_are_redacted_with_every_host() -> None:
    from authchaos_reference.redis_client import redact_url

    url = "redis+sentinel://:s3cret@127.0.0.1:1,127.0.0.1:2/mymaster/0"
    assert redact_url(url) == "redis+sentinel://:***@127.0.0.1:1,127.0.0.1:2/mymaster/0"
    assert redact_url("redis://u:s3cret@h:6379/0") == "redis://u:***@h:6379/0"


async def test_cleanup_refuses_a_cluster_instead_of_scanning_the_wrong_keys() -> None:
    from authchaos_reference.services import build_services

    services = build_services(make_settings(redis_url="redis+cluster://127.0.0.1:1"))
    with pytest.raises(ConfigError, match="cluster"):
        await services.cleanup.run(dry_run=True)
    await services.aclose()
