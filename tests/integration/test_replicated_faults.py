"""Each replicated fault does what it declares on real topologies, and is undone when it stops."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from authchaos.faults.fault_spec import Failover, KillPrimary, KillShard, PartitionPrimary, ReplicaLag, SlotMigration
from authchaos.faults.nemesis import injected
from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.servers.processes import wait_until
from authchaos.topology.cluster_topology import cluster_state
from authchaos.topology.topology_base import ProxiedNode, Topology, TopologyError, info

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="sentinel")) as infra:
        yield infra


@pytest.fixture(scope="module")
def cluster() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="cluster")) as infra:
        yield infra


def topo(infra: Infrastructure) -> Topology:
    assert infra.topology is not None
    return infra.topology


def promoted_away_from(t: Topology, old: ProxiedNode) -> bool:
    with contextlib.suppress(TopologyError, OSError):
        return t.primary() is not old
    return False


def role(node: ProxiedNode) -> object:
    with contextlib.suppress(OSError, Exception):
        return info(node, "replication").get("role")
    return None


def test_sentinel_kill_primary_promotes_and_the_old_one_rejoins(sentinel: Infrastructure) -> None:
    t = topo(sentinel)
    old = t.primary()
    assert sentinel.nemesis is not None
    with injected(sentinel.nemesis, KillPrimary()):
        assert not old.server.alive()
        assert wait_until(lambda: promoted_away_from(t, old), 30)
    assert old.server.alive()
    assert wait_until(lambda: role(old) == "slave", 30)
    t.wait_healthy()


def test_sentinel_partition_is_a_split_brain(sentinel: Infrastructure) -> None:
    t = topo(sentinel)
    old = t.primary()
    assert sentinel.nemesis is not None
    with injected(sentinel.nemesis, PartitionPrimary()):
        assert wait_until(lambda: promoted_away_from(t, old), 30)
        with contextlib.closing(old.client()) as c:  # clients still reach the old primary, and it still takes writes
            assert c.set("authchaos:split-brain", "written-alone")
        assert role(old) == "master"
    assert wait_until(lambda: role(old) == "slave", 40)  # healed: the sentinels demote it
    t.wait_healthy()
    with contextlib.closing(t.primary().client()) as c:
        assert c.get("authchaos:split-brain") is None  # acknowledged, then lost


def test_sentinel_replica_lag_freezes_the_replicas_until_it_ends(sentinel: Infrastructure) -> None:
    t = topo(sentinel)
    replicas = t.replicas_of(t.primary())
    assert sentinel.nemesis is not None
    with injected(sentinel.nemesis, ReplicaLag()):
        assert all(r.server.paused for r in replicas)
    assert not any(r.server.paused for r in replicas)
    t.wait_healthy()


def test_sentinel_failover(sentinel: Infrastructure) -> None:
    t = topo(sentinel)
    old = t.primary()
    assert sentinel.nemesis is not None
    with injected(sentinel.nemesis, Failover()):
        assert wait_until(lambda: promoted_away_from(t, old), 30)
    t.wait_healthy()


def test_cluster_slot_migration_moves_slots_with_their_keys(cluster: Infrastructure) -> None:
    t = topo(cluster)
    first = t.nodes[0]
    client = RedisCluster(host="127.0.0.1", port=first.proxy_port, socket_timeout=2.0)
    try:
        keys = [f"authchaos:migrate:{i}" for i in range(300)]
        for key in keys:
            client.set(key, key)
        source = t.primary()
        before = {int(client.keyslot(k)) for k in keys if client.get_node_from_key(k).port == source.proxy_port}
        assert cluster.nemesis is not None
        with injected(cluster.nemesis, SlotMigration(slots=4)):
            pass
        client.nodes_manager.initialize()
        after = {int(client.keyslot(k)) for k in keys if client.get_node_from_key(k).port == source.proxy_port}
        assert len(before - after) == 4  # four of its slots now live elsewhere
        assert all(client.get(k) == k.encode() for k in keys)  # and every key went with its slot
    finally:
        client.close()


def test_cluster_failover_and_kill_shard(cluster: Infrastructure) -> None:
    t = topo(cluster)
    assert cluster.nemesis is not None
    old = t.primary()
    with injected(cluster.nemesis, Failover()):
        assert wait_until(lambda: promoted_away_from(t, old), 30)
    t.wait_healthy()
    primary = t.primary()
    shard = [primary, *t.replicas_of(primary)]
    with injected(cluster.nemesis, KillShard()):
        assert not any(n.server.alive() for n in shard)
        others = [n for n in t.nodes if n not in shard]
        assert wait_until(lambda: cluster_state(others[0]) == "fail", 30)  # slots with no node: the cluster is down
    assert all(n.server.alive() for n in shard)
    t.wait_healthy()
