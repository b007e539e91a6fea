"""Sentinel and cluster topologies from the real redis-server: started healthy, discovered through the
proxies only, and nothing left behind after success, a failed start, or an interrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.servers.processes import live_processes, wait_until
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from authchaos.topology import cluster_topology
from authchaos.topology.topology_base import ProxiedNode, Topology, TopologyError
from tests.support import pid_alive

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def pids(topology: Topology) -> list[int]:
    found = [n.server.process.pid for n in topology.nodes if n.server.process and n.server.process.pid]
    for sentinel, _, _ in getattr(topology, "sentinels", []):
        found.append(sentinel.process.pid)
    return [p for p in found if p]


@pytest.fixture(scope="module")
def sentinel_infra() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="sentinel")) as infra:
        yield infra


@pytest.fixture(scope="module")
def cluster_infra() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="cluster")) as infra:
        yield infra


def proxy_ports(infra: Infrastructure) -> set[int]:
    assert infra.client is not None and infra.topology is not None
    state = infra.client.proxies()
    return {int(state[p]["listen"].rsplit(":", 1)[1]) for p in infra.topology.proxies}


def test_sentinel_clients_discover_only_proxies(sentinel_infra: Infrastructure) -> None:
    topology = sentinel_infra.topology
    assert topology is not None and len(topology.nodes) == 3
    url = sentinel_infra.service_redis_url
    assert url.startswith("redis+sentinel://")
    hosts = url.split("@", 1)[1].split("/", 1)[0].split(",")
    sentinels = [(h.split(":")[0], int(h.split(":")[1])) for h in hosts]
    proxied = proxy_ports(sentinel_infra)
    assert {port for _, port in sentinels} <= proxied
    user, password = url.split("://", 1)[1].split("@", 1)[0].split(":")
    discovery = Sentinel(sentinels, socket_timeout=1.0, username=user, password=password)
    master = discovery.discover_master("authchaos")
    replicas = discovery.discover_slaves("authchaos")
    assert master[1] in proxied and len(replicas) == 2 and all(port in proxied for _, port in replicas)
    primary = discovery.master_for("authchaos", socket_timeout=1.0, username=user, password=password)
    assert primary.set("authchaos:topology-test", "1")


def test_sentinel_failover_promotes_a_replica(sentinel_infra: Infrastructure) -> None:
    topology = sentinel_infra.topology
    assert topology is not None
    before = topology.primary()
    topology.failover(before)
    assert wait_until(lambda: _other_primary(topology, before), 30)
    topology.wait_healthy()


def _other_primary(topology: Topology, before: ProxiedNode) -> bool:
    try:
        return topology.primary() is not before and topology.writable()
    except TopologyError:
        return False


def test_cluster_clients_discover_only_proxies(cluster_infra: Infrastructure) -> None:
    topology = cluster_infra.topology
    assert topology is not None and len(topology.nodes) == 6
    url = cluster_infra.service_redis_url
    assert url.startswith("redis+cluster://")
    first = url.removeprefix("redis+cluster://").split(",")[0]
    client = RedisCluster(host=first.split(":")[0], port=int(first.split(":")[1]), socket_timeout=1.0)
    try:
        proxied = proxy_ports(cluster_infra)
        assert {n.port for n in client.get_nodes()} <= proxied
        for i in range(30):  # keys spread over every shard
            client.set(f"authchaos:topology-test:{i}", "1")
        assert sum(1 for _ in client.scan_iter("authchaos:topology-test:*")) == 30
    finally:
        client.close()


def test_failed_cluster_start_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[ProxiedNode] = []
    original = cluster_topology.ClusterTopology._form

    def form_then_fail(self: cluster_topology.ClusterTopology) -> None:
        original(self)
        started.extend(self.nodes)
        raise TopologyError("deliberate failure after forming")

    monkeypatch.setattr(cluster_topology.ClusterTopology, "_form", form_then_fail)
    before = {p.pid for p in live_processes()}
    infra = Infrastructure(InfraOptions(backend="real", topology="cluster"))
    with pytest.raises(TopologyError, match="deliberate"):
        infra.start()
    assert len(started) == 6
    assert not any(n.server.alive() for n in started)
    assert {p.pid for p in live_processes()} <= before  # the toxiproxy-server went too


SCRIPT = """
import json, sys, time
from authchaos.run.infrastructure import Infrastructure, InfraOptions, terminate_like_interrupt

terminate_like_interrupt()
with Infrastructure(InfraOptions(backend="real", topology=sys.argv[1])) as infra:
    topo = infra.topology
    pids = [n.server.process.pid for n in topo.nodes] + [s.process.pid for s, _, _ in getattr(topo, "sentinels", [])]
    print(json.dumps({"pids": pids + [infra.toxiproxy.process.pid]}), flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize(("kind", "sig"), [("sentinel", signal.SIGINT), ("cluster", signal.SIGKILL)])
def test_interrupted_topology_leaves_nothing_running(kind: str, sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, kind], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen = json.loads(proc.stdout.readline())
        assert all(pid_alive(p) for p in seen["pids"])
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_until(lambda: not any(pid_alive(p) for p in seen["pids"]), 15)


def test_no_proxy_left_after_close() -> None:
    with ToxiproxyServer() as server:
        client = ToxiproxyClient(server.api_url)
        from authchaos.topology.factory import start_topology

        topology = start_topology("sentinel", client)
        assert len(client.proxies()) == 6
        all_pids = pids(topology)
        topology.close()
        assert client.proxies() == {}
        assert not any(pid_alive(p) for p in all_pids)
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=topology.nodes[0].proxy_port, socket_connect_timeout=0.5).ping()
